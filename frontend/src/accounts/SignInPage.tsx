// The sign-in page (password, and an OpenID Connect button when the studio has one) and the
// first-run page that creates the first admin (offered only to this computer, before any user).
import { useState, type FormEvent, type ReactNode } from "react";
import { useMutation } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { withBase } from "../api/base";
import { accountsApi, USER_NAME, type SignedIn } from "./accountsApi";

/** a text field without a width (the caller gives one) */
export const field =
  "rounded-md border border-neutral-800 bg-neutral-900 px-2.5 py-1.5 text-sm text-neutral-100 focus:border-amber-400/70 focus:outline-none";
export const input = field + " w-full";
export const primary =
  "rounded-md bg-amber-400 px-3 py-1.5 text-sm font-semibold text-neutral-950 hover:bg-amber-300 disabled:cursor-not-allowed disabled:opacity-50";

function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="flex min-h-dvh items-center justify-center p-4">
      <section aria-label={title} className="w-full max-w-sm rounded-xl border border-neutral-800 bg-neutral-900/60 p-6 shadow-xl">
        <p className="mb-1 font-semibold tracking-tight text-amber-300">Atelier</p>
        <h1 className="mb-4 text-lg font-semibold text-neutral-100">{title}</h1>
        {children}
      </section>
    </main>
  );
}

function message(e: unknown): string {
  if (!(e instanceof ApiError)) return String(e);
  if (e.code === "invalid_credentials") return "Wrong user name or password.";
  if (e.code === "too_many_attempts") return `Too many failed sign-ins. ${e.message}`;
  return e.message;
}

export function SignInPage({ oidc, onSignedIn }: { oidc: { label: string } | null; onSignedIn: (s: SignedIn) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const signIn = useMutation({ mutationFn: () => accountsApi.signIn(username.trim(), password), onSuccess: onSignedIn });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!username.trim() || !password) return;
    signIn.mutate();
  };
  return (
    <Card title="Sign in">
      <form onSubmit={submit} className="flex flex-col gap-3">
        <label className="flex flex-col gap-1 text-sm text-neutral-300">
          User name
          <input className={input} autoComplete="username" autoCapitalize="none" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
        </label>
        <label className="flex flex-col gap-1 text-sm text-neutral-300">
          Password
          <input className={input} type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        </label>
        {signIn.isError && (
          <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 px-2.5 py-1.5 text-sm text-red-300">
            {message(signIn.error)}
          </p>
        )}
        <button type="submit" className={primary} disabled={signIn.isPending || !username.trim() || !password}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {oidc && (
        <>
          <p className="my-3 text-center text-xs text-neutral-500">or</p>
          <a href={withBase("/api/oidc/login")} className="block rounded-md border border-neutral-700 px-3 py-1.5 text-center text-sm text-neutral-100 hover:border-amber-400">
            Sign in with {oidc.label}
          </a>
        </>
      )}
    </Card>
  );
}

export const MIN_PASSWORD = 8;

/** What is wrong with a new user's name and password, or null. */
export function checkNewUser(name: string, password: string, confirm?: string): string | null {
  if (!USER_NAME.test(name)) return "A user name is 1–32 lowercase letters, digits, - or _, starting with a letter or digit.";
  if (password.length < MIN_PASSWORD) return `A password has at least ${MIN_PASSWORD} characters.`;
  if (confirm !== undefined && confirm !== password) return "The two passwords differ.";
  return null;
}

export function SetupPage({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const setup = useMutation({ mutationFn: () => accountsApi.setup(username, password), onSuccess: onDone });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const wrong = checkNewUser(username, password, confirm);
    setProblem(wrong);
    if (!wrong) setup.mutate();
  };
  return (
    <Card title="Create the admin">
      <p className="mb-4 text-sm text-neutral-400">
        This turns accounts on: from then on everyone signs in, each with their own gallery. This first user is an admin and can add the others.
      </p>
      <form onSubmit={submit} className="flex flex-col gap-3" noValidate>
        <label className="flex flex-col gap-1 text-sm text-neutral-300">
          User name
          <input className={input} autoComplete="username" autoCapitalize="none" value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
        </label>
        <label className="flex flex-col gap-1 text-sm text-neutral-300">
          Password
          <input className={input} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label className="flex flex-col gap-1 text-sm text-neutral-300">
          Password again
          <input className={input} type="password" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        </label>
        {(problem || setup.isError) && (
          <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 px-2.5 py-1.5 text-sm text-red-300">
            {problem ?? message(setup.error)}
          </p>
        )}
        <button type="submit" className={primary} disabled={setup.isPending}>
          {setup.isPending ? "Creating…" : "Create the admin and sign in"}
        </button>
        <a href="#/" className="text-center text-xs text-neutral-500 hover:text-neutral-300">
          Not now: keep the studio without accounts
        </a>
      </form>
    </Card>
  );
}
