// The signed-in person in the header: name, role and "Sign out". Nothing without accounts.
import { useMutation } from "@tanstack/react-query";
import { accountsApi } from "./accountsApi";
import { reloadPage, useAccount } from "./account";

export function UserMenu({ onSignedOut = reloadPage }: { onSignedOut?: () => void }) {
  const { user } = useAccount();
  // the page starts again: nothing of this person stays in the tab (cache, socket, jobs)
  const signOut = useMutation({ mutationFn: accountsApi.signOut, onSettled: onSignedOut });
  if (!user) return null;
  return (
    <div className="flex shrink-0 items-center gap-2 pl-2 pr-2 text-sm sm:pr-3" data-testid="user-menu">
      <span className="flex flex-col items-end leading-tight">
        <span className="max-w-[8rem] truncate text-neutral-100" data-testid="user-name">
          {user.name}
        </span>
        <span className="text-[10px] uppercase tracking-wide text-neutral-500">{user.role}</span>
      </span>
      <button
        type="button"
        onClick={() => signOut.mutate()}
        disabled={signOut.isPending}
        className="rounded-md border border-neutral-800 px-2 py-1 text-xs text-neutral-300 hover:border-amber-400 hover:text-neutral-50"
      >
        Sign out
      </button>
    </div>
  );
}

/** The header's extra pages for this person: keys for everyone signed in, admin for admins. */
export function accountRoutes(account: { user: unknown; isAdmin: boolean }): ("keys" | "admin")[] {
  if (!account.user) return [];
  return account.isAdmin ? ["keys", "admin"] : ["keys"];
}
