// Who is signed in, for the whole SPA. The gate asks GET /api/auth once: without accounts
// it renders the studio exactly as before; with accounts it shows the sign-in page until
// GET /api/me names a user, and again when the server stops accepting the session (a 401).
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { onSignedOut, setAccountsMode, setCsrfToken } from "../api/auth";
import { accountKeys, accountsApi, type AuthInfo, type Me, type SessionUser } from "./accountsApi";
import { SetupPage, SignInPage } from "./SignInPage";

export interface Account {
  /** accounts are on in this studio */
  accounts: boolean;
  /** the signed-in person (null without accounts) */
  user: SessionUser | null;
  isAdmin: boolean;
}

const NO_ACCOUNTS: Account = { accounts: false, user: null, isAdmin: false };
const AccountContext = createContext<Account>(NO_ACCOUNTS);

export function useAccount(): Account {
  return useContext(AccountContext);
}

/** For tests and pages rendered outside the gate. */
export const AccountProvider = AccountContext.Provider;

export function useAuthInfo(retryBaseMs = 250) {
  return useQuery({
    queryKey: accountKeys.auth,
    // a server without this route (404, before accounts) is today's studio: no accounts; any
    // other failure is not taken for "no accounts": it is tried again, then said
    queryFn: () =>
      accountsApi.auth().catch((e: unknown): AuthInfo => {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return { accounts: false, setup: false, oidc: null };
        throw e;
      }),
    staleTime: Infinity,
    retry: 4,
    retryDelay: (attempt) => Math.min(retryBaseMs * 2 ** attempt, 4000),
  });
}

function useMe(enabled: boolean) {
  return useQuery({
    queryKey: accountKeys.me,
    queryFn: async (): Promise<Me> => {
      try {
        const me = await accountsApi.me();
        setCsrfToken(me.csrf_token);
        return me;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return { user: null, csrf_token: null, accounts: true };
        throw e;
      }
    },
    enabled,
    staleTime: Infinity,
    retry: false,
  });
}

function isSetupRoute(): boolean {
  return /^#\/?setup\b/.test(location.hash);
}

export function reloadPage(): void {
  location.reload();
}

export function AccountGate({
  children,
  reload = reloadPage,
  retryBaseMs,
}: {
  children: ReactNode;
  reload?: () => void;
  /** the first wait before GET /api/auth is tried again (tests: short) */
  retryBaseMs?: number;
}) {
  const qc = useQueryClient();
  const auth = useAuthInfo(retryBaseMs);
  const accounts = auth.data?.accounts === true;
  if (auth.data) setAccountsMode(accounts); // before any other request of the studio is sent
  const me = useMe(accounts);
  const [setupRoute, setSetupRoute] = useState(isSetupRoute);
  // the studio was on screen: after a new sign-in its socket and cache belong to someone
  // else, so the page starts again
  const studioShown = useRef(false);

  useEffect(() => {
    const on = () => setSetupRoute(isSetupRoute());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  useEffect(
    () =>
      onSignedOut(() => {
        setCsrfToken(null);
        qc.setQueryData<Me>(accountKeys.me, { user: null, csrf_token: null, accounts: true });
      }),
    [qc],
  );

  if (auth.isPending) return null;
  if (auth.isError) return <Failure error={auth.error} retry={() => void auth.refetch()} />;
  if (auth.data?.setup && setupRoute) return (
      <SetupPage
        onDone={() => {
          history.replaceState(null, "", "#/");
          reload();
        }}
      />
    );
  if (!accounts) return <AccountContext.Provider value={NO_ACCOUNTS}>{children}</AccountContext.Provider>;
  if (me.isPending) return null;
  if (me.isError) return <Failure error={me.error} retry={() => void me.refetch()} />;
  const user = me.data.user;
  if (!user) {
    return (
      <SignInPage
        oidc={auth.data?.oidc ?? null}
        onSignedIn={(signedIn) => {
          setCsrfToken(signedIn.csrf_token);
          if (studioShown.current) reload();
          else qc.setQueryData<Me>(accountKeys.me, { user: signedIn.user, csrf_token: signedIn.csrf_token, accounts: true });
        }}
      />
    );
  }
  studioShown.current = true;
  return <AccountContext.Provider value={{ accounts: true, user, isAdmin: user.role === "admin" }}>{children}</AccountContext.Provider>;
}

function Failure({ error, retry }: { error: Error; retry: () => void }) {
  return (
    <p role="alert" className="m-6 rounded-md border border-red-900 bg-red-950/40 p-3 text-sm text-red-300">
      {error.message}{" "}
      <button type="button" className="underline" onClick={retry}>
        Try again
      </button>
    </p>
  );
}
