// API keys: create one (name, scopes, optional monthly budget), see its secret once with a
// copy button, the list with last use, revoke. Admins may list everyone's.
import { useState, type FormEvent } from "react";
import { ApiError } from "../api/client";
import { formatUsd, formatWhen, parseBudget, SCOPES, type ApiKey, type Scope } from "./accountsApi";
import { useAccount } from "./account";
import { useCreateKey, useKeys, useRevokeKey } from "./queries";
import { input, primary } from "./SignInPage";

const panel = "rounded-lg border border-neutral-800 bg-neutral-900/50 p-4";
const small = "rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-400";

function SecretOnce({ secret, name, onDone }: { secret: string; name: string; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  return (
    <section aria-label="New key" className="rounded-lg border border-amber-700/70 bg-amber-950/30 p-4">
      <h2 className="font-medium text-amber-200">Key “{name}” created</h2>
      <p className="mt-1 text-sm text-amber-100/80">Copy it now: it is shown only once. Use it as <code>Authorization: Bearer …</code>.</p>
      <div className="mt-2 flex flex-wrap items-center gap-2">
        <code data-testid="key-secret" className="min-w-0 flex-1 break-all rounded bg-neutral-950 px-2 py-1.5 text-sm text-amber-100">
          {secret}
        </code>
        <button
          type="button"
          className={small}
          onClick={() =>
            navigator.clipboard
              ?.writeText(secret)
              .then(() => setCopied("Copied"))
              .catch(() => setCopied("The browser did not allow copying: select the text"))
          }
        >
          Copy
        </button>
        <button type="button" className={small} onClick={onDone}>
          Done
        </button>
      </div>
      {copied && (
        <p role="status" className="mt-1 text-xs text-amber-200">
          {copied}
        </p>
      )}
    </section>
  );
}

function KeyRow({ k, showUser }: { k: ApiKey; showUser: boolean }) {
  const revoke = useRevokeKey();
  const [confirming, setConfirming] = useState(false);
  return (
    <li className="flex flex-wrap items-center gap-x-3 gap-y-1 border-t border-neutral-800 py-2 text-sm first:border-t-0" data-testid="key-row">
      <span className="min-w-0 flex-1">
        <span className="font-medium text-neutral-100">{k.name}</span> <code className="text-xs text-neutral-500">{k.prefix}…</code>
        {showUser && <span className="ml-2 text-xs text-neutral-400">of {k.user.name}</span>}
        <span className="mt-0.5 block text-xs text-neutral-400">
          {k.scopes.join(", ")} · budget {k.monthly_budget_usd === null ? "none" : formatUsd(k.monthly_budget_usd) + "/month"}
        </span>
      </span>
      <span className="text-xs text-neutral-500">
        created {formatWhen(k.created_at)} · last used <span data-testid="key-last-used">{formatWhen(k.last_used_at)}</span>
      </span>
      {confirming ? (
        <span className="flex gap-1">
          <button type="button" className={small + " border-red-700 text-red-300"} onClick={() => revoke.mutate(k.id)} disabled={revoke.isPending}>
            Revoke “{k.name}” now
          </button>
          <button type="button" className={small} onClick={() => setConfirming(false)}>
            Keep
          </button>
        </span>
      ) : (
        <button type="button" className={small + " hover:border-red-600 hover:text-red-300"} onClick={() => setConfirming(true)}>
          Revoke
        </button>
      )}
      {revoke.isError && <p role="alert" className="w-full text-xs text-red-300">{(revoke.error as Error).message}</p>}
    </li>
  );
}

export default function KeysPage() {
  const { isAdmin } = useAccount();
  const [all, setAll] = useState(false);
  const keys = useKeys(all);
  const create = useCreateKey();
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState<Set<Scope>>(new Set(["generate", "gallery:read"]));
  const [budget, setBudget] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [created, setCreated] = useState<{ secret: string; name: string } | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const b = parseBudget(budget);
    const wrong = !name.trim()
      ? "Give the key a name (where it is used)."
      : name.trim().length > 64
        ? "A key's name is at most 64 characters."
        : scopes.size === 0
          ? "Choose at least one scope."
          : "error" in b
            ? b.error
            : null;
    setProblem(wrong);
    if (wrong || "error" in b) return;
    create.mutate(
      { name: name.trim(), scopes: SCOPES.map((s) => s.scope).filter((s) => scopes.has(s)), monthly_budget_usd: b.value },
      {
        onSuccess: ({ key, secret }) => {
          setCreated({ secret, name: key.name });
          setName("");
          setBudget("");
        },
      },
    );
  };
  const toggle = (s: Scope) =>
    setScopes((set) => {
      const next = new Set(set);
      if (next.has(s)) next.delete(s);
      else next.add(s);
      return next;
    });
  const serverProblem = create.error instanceof ApiError ? create.error.message : create.error ? String(create.error) : null;

  return (
    <div className="mx-auto flex max-w-3xl flex-col gap-4">
      <header>
        <h1 className="text-lg font-semibold text-neutral-100">API keys</h1>
        <p className="mt-1 text-sm text-neutral-400">
          A key lets a script or another app act for you (REST and Socket.IO), with only the scopes you give it and, if you like, its own monthly
          budget. Revoking one stops it at once.
        </p>
      </header>

      {created && <SecretOnce secret={created.secret} name={created.name} onDone={() => setCreated(null)} />}

      <form onSubmit={submit} className={panel + " flex flex-col gap-3"} aria-label="Create a key" noValidate>
        <h2 className="font-medium text-neutral-100">Create a key</h2>
        <div className="grid gap-3 sm:grid-cols-[minmax(0,1fr)_10rem]">
          <label className="flex flex-col gap-1 text-sm text-neutral-300">
            Name
            <input className={input} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. open-webui" maxLength={100} />
          </label>
          <label className="flex flex-col gap-1 text-sm text-neutral-300">
            Monthly budget ($)
            <input className={input} value={budget} onChange={(e) => setBudget(e.target.value)} inputMode="decimal" placeholder="none" />
          </label>
        </div>
        <fieldset className="flex flex-wrap gap-x-4 gap-y-1 text-sm text-neutral-300">
          <legend className="mb-1 text-sm text-neutral-300">Scopes</legend>
          {SCOPES.filter((s) => isAdmin || s.scope !== "admin").map((s) => (
            <label key={s.scope} className="flex items-center gap-1.5">
              <input type="checkbox" checked={scopes.has(s.scope)} onChange={() => toggle(s.scope)} className="accent-amber-400" />
              {s.label} <code className="text-xs text-neutral-500">{s.scope}</code>
            </label>
          ))}
        </fieldset>
        {(problem || serverProblem) && (
          <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 px-2.5 py-1.5 text-sm text-red-300">
            {problem ?? serverProblem}
          </p>
        )}
        <div>
          <button type="submit" className={primary} disabled={create.isPending}>
            Create key
          </button>
        </div>
      </form>

      <section aria-label="Keys" className={panel}>
        <div className="mb-2 flex items-center justify-between">
          <h2 className="font-medium text-neutral-100">{all ? "Everyone's keys" : "Your keys"}</h2>
          {isAdmin && (
            <label className="flex items-center gap-1.5 text-sm text-neutral-400">
              <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} className="accent-amber-400" />
              Everyone's
            </label>
          )}
        </div>
        {keys.isError && <p role="alert" className="text-sm text-red-300">{(keys.error as Error).message}</p>}
        {keys.data && keys.data.length === 0 && <p className="text-sm text-neutral-500">No keys yet.</p>}
        <ul>
          {keys.data?.map((k) => (
            <KeyRow key={k.id} k={k} showUser={all} />
          ))}
        </ul>
      </section>
    </div>
  );
}
