// The admin page: users (add, role, disable, monthly budget, new password, delete) and the
// month's usage by user and by key (GET /api/usage).
import { useState, type FormEvent } from "react";
import { formatUsd, parseBudget, type Role, type UsageRow, type User, type UserPatch } from "./accountsApi";
import { useAccount } from "./account";
import { useAddUser, useDeleteUser, useUpdateUser, useUsage, useUsers } from "./queries";
import { checkNewUser, field, primary } from "./SignInPage";

const panel = "rounded-lg border border-neutral-800 bg-neutral-900/50 p-4";
const small = "rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-400 disabled:opacity-40";
const cell = "border-t border-neutral-800 px-2 py-1.5 align-middle";

function Alert({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 px-2.5 py-1.5 text-sm text-red-300">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

function BudgetInput({ user, onSave }: { user: User; onSave: (v: number | null) => void }) {
  const initial = user.monthly_budget_usd === null ? "" : String(user.monthly_budget_usd);
  const [text, setText] = useState(initial);
  const [problem, setProblem] = useState<string | null>(null);
  const save = () => {
    if (text === initial) return;
    const b = parseBudget(text);
    if ("error" in b) return setProblem(b.error);
    setProblem(null);
    onSave(b.value);
  };
  return (
    <span className="flex flex-col">
      <input
        aria-label={`Monthly budget of ${user.name}`}
        className={field + " w-24 py-1"}
        value={text}
        placeholder="none"
        inputMode="decimal"
        onChange={(e) => setText(e.target.value)}
        onBlur={save}
        onKeyDown={(e) => e.key === "Enter" && save()}
        aria-invalid={problem ? true : undefined}
      />
      {problem && <span className="mt-0.5 text-[11px] text-red-300">{problem}</span>}
    </span>
  );
}

function UserRow({ user, self }: { user: User; self: boolean }) {
  const update = useUpdateUser();
  const remove = useDeleteUser();
  const [confirming, setConfirming] = useState(false);
  const [password, setPassword] = useState<string | null>(null);
  // what was just chosen shows at once (a controlled field would otherwise snap back until
  // the server answers); the list loaded again after the answer then says it
  const [shown, setShown] = useState<{ role?: Role; disabled?: boolean }>({});
  const patch = (p: UserPatch) => {
    if (p.role !== undefined || p.disabled !== undefined) setShown((s) => ({ ...s, role: p.role ?? s.role, disabled: p.disabled ?? s.disabled }));
    update.mutate({ id: user.id, patch: p }, { onSettled: () => setShown({}) });
  };
  return (
    <>
      <tr data-testid="user-row" data-user={user.name} className={user.disabled ? "text-neutral-500" : "text-neutral-200"}>
        <td className={cell}>
          <span className="font-medium">{user.name}</span>
          {self && <span className="ml-1 text-xs text-neutral-500">(you)</span>}
          <span className="block text-[11px] text-neutral-500">since {new Date(user.created_at).toLocaleDateString()}</span>
        </td>
        <td className={cell}>
          <select
            aria-label={`Role of ${user.name}`}
            value={shown.role ?? user.role}
            disabled={self}
            onChange={(e) => patch({ role: e.target.value as Role })}
            className={field + " min-w-[6.5rem] py-1"}
          >
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </td>
        <td className={cell}>
          <label className="flex items-center gap-1.5 text-xs">
            <input type="checkbox" checked={shown.disabled ?? user.disabled} disabled={self} onChange={(e) => patch({ disabled: e.target.checked })} className="accent-amber-400" />
            Disabled
          </label>
        </td>
        <td className={cell}>
          <BudgetInput user={user} onSave={(v) => patch({ monthly_budget_usd: v })} />
        </td>
        <td className={cell + " whitespace-nowrap text-right"}>
          <button type="button" className={small + " mr-1"} onClick={() => setPassword(password === null ? "" : null)}>
            Password…
          </button>
          {confirming ? (
            <>
              <button type="button" className={small + " border-red-700 text-red-300"} onClick={() => remove.mutate(user.id)}>
                Delete {user.name}
              </button>
              <button type="button" className={small + " ml-1"} onClick={() => setConfirming(false)}>
                Keep
              </button>
            </>
          ) : (
            <button type="button" className={small + " hover:border-red-600 hover:text-red-300"} disabled={self} onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
        </td>
      </tr>
      {password !== null && (
        <tr>
          <td colSpan={5} className="px-2 pb-2">
            <form
              className="flex flex-wrap items-center gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                if (password.length < 8) return;
                update.mutate({ id: user.id, patch: { password } }, { onSuccess: () => setPassword(null) });
              }}
            >
              <input
                type="password"
                autoComplete="new-password"
                aria-label={`New password for ${user.name}`}
                className={field + " w-56 py-1"}
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
              <button type="submit" className={small} disabled={password.length < 8}>
                Set password
              </button>
              <span className="text-xs text-neutral-500">at least 8 characters</span>
            </form>
          </td>
        </tr>
      )}
      {(update.isError || remove.isError) && (
        <tr>
          <td colSpan={5} className="px-2 pb-2">
            <Alert error={update.error ?? remove.error} />
          </td>
        </tr>
      )}
    </>
  );
}

function AddUser() {
  const add = useAddUser();
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [problem, setProblem] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const wrong = checkNewUser(name, password);
    setProblem(wrong);
    if (wrong) return;
    add.mutate(
      { name, password, role },
      {
        onSuccess: () => {
          setName("");
          setPassword("");
        },
      },
    );
  };
  return (
    <form onSubmit={submit} aria-label="Add a user" className="mt-3 flex flex-col gap-2 border-t border-neutral-800 pt-3" noValidate>
      <h3 className="text-sm font-medium text-neutral-200">Add a user</h3>
      <div className="flex flex-wrap items-end gap-2">
        <label className="flex flex-col gap-1 text-xs text-neutral-400">
          Name
          <input className={field + " w-40"} value={name} onChange={(e) => setName(e.target.value)} autoCapitalize="none" placeholder="lowercase" />
        </label>
        <label className="flex flex-col gap-1 text-xs text-neutral-400">
          Password
          <input className={field + " w-44"} type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label className="flex flex-col gap-1 text-xs text-neutral-400">
          Role
          <select className={field} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <button type="submit" className={primary} disabled={add.isPending}>
          Add user
        </button>
      </div>
      {problem ? <Alert error={problem} /> : <Alert error={add.error} />}
    </form>
  );
}

function rowName(row: UsageRow): string {
  if (!("key_id" in row)) return row.user;
  if (row.name === null) return `revoked key ${row.key_id.slice(0, 8)}`;
  return row.user ? `${row.name} (${row.user})` : row.name;
}

function UsageTable({ title, rows, kind }: { title: string; rows: UsageRow[]; kind: "user" | "key" }) {
  return (
    <div className="min-w-0 overflow-x-auto">
      <h3 className="mb-1 text-sm font-medium text-neutral-200">{title}</h3>
      {rows.length === 0 ? (
        <p className="text-sm text-neutral-500">Nothing this month.</p>
      ) : (
        <table className="w-full text-left text-sm" data-testid={`usage-by-${kind}`}>
          <thead className="text-xs text-neutral-500">
            <tr>
              <th className="px-2 py-1 font-normal">{kind === "user" ? "User" : "Key"}</th>
              <th className="px-2 py-1 text-right font-normal">Jobs</th>
              <th className="px-2 py-1 text-right font-normal">Images</th>
              <th className="px-2 py-1 text-right font-normal">Cost</th>
              <th className="px-2 py-1 text-right font-normal">This month</th>
              <th className="px-2 py-1 text-right font-normal">Budget</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i} className="text-neutral-200">
                <td className={cell}>{rowName(r)}</td>
                <td className={cell + " text-right tabular-nums"}>{r.jobs}</td>
                <td className={cell + " text-right tabular-nums"}>{r.images}</td>
                <td className={cell + " text-right tabular-nums"}>{formatUsd(r.cost_usd)}</td>
                <td className={cell + " text-right tabular-nums"}>{formatUsd(r.budget.month_spend_usd)}</td>
                <td className={cell + " text-right tabular-nums"}>{r.budget.monthly_budget_usd === null ? "none" : formatUsd(r.budget.monthly_budget_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export default function AdminPage() {
  const { user: me, isAdmin } = useAccount();
  const users = useUsers();
  const usage = useUsage();
  if (!isAdmin) return <p className="p-6 text-sm text-neutral-400">Only admins see this page.</p>;
  return (
    <div className="mx-auto flex max-w-5xl flex-col gap-4">
      <header>
        <h1 className="text-lg font-semibold text-neutral-100">Admin</h1>
        <p className="mt-1 text-sm text-neutral-400">
          People who use this studio, their roles and monthly budgets, and what each person and key spent this month. A disabled user's sessions
          and keys stop working at once.
        </p>
      </header>
      <section aria-label="Users" className={panel}>
        <h2 className="mb-2 font-medium text-neutral-100">Users</h2>
        <Alert error={users.error} />
        <div className="overflow-x-auto">
          <table className="w-full min-w-[40rem] text-left text-sm">
            <thead className="text-xs text-neutral-500">
              <tr>
                <th className="px-2 py-1 font-normal">Name</th>
                <th className="px-2 py-1 font-normal">Role</th>
                <th className="px-2 py-1 font-normal">Access</th>
                <th className="px-2 py-1 font-normal">Budget ($/month)</th>
                <th className="px-2 py-1" />
              </tr>
            </thead>
            <tbody>
              {users.data?.map((u) => (
                <UserRow key={u.id} user={u} self={u.id === me?.id} />
              ))}
            </tbody>
          </table>
        </div>
        <AddUser />
      </section>
      <section aria-label="Usage" className={panel}>
        <h2 className="mb-2 font-medium text-neutral-100">Usage this month</h2>
        <Alert error={usage.error} />
        {usage.data && (
          <>
            {usage.data.budget && (
              <p className="mb-3 text-sm text-neutral-400">
                Studio: {formatUsd(usage.data.budget.month_spend_usd)} spent of{" "}
                {usage.data.budget.monthly_budget_usd === null ? "no budget" : formatUsd(usage.data.budget.monthly_budget_usd)}
              </p>
            )}
            <div className="grid gap-4 lg:grid-cols-2">
              <UsageTable title="By user" rows={usage.data.by_user ?? []} kind="user" />
              <UsageTable title="By key" rows={usage.data.by_key ?? []} kind="key" />
            </div>
          </>
        )}
      </section>
    </div>
  );
}
