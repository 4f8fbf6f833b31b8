// The accounts API (docs/api.md, "Accounts"): who is signed in, sign-in/out, the first-run
// admin, API keys, users (admins) and usage by user and key. Query keys in one factory.
import { request } from "../api/client";

export type Role = "admin" | "member";
export type Scope = "generate" | "gallery:read" | "gallery:write" | "admin";
export const SCOPES: { scope: Scope; label: string }[] = [
  { scope: "generate", label: "Generate images" },
  { scope: "gallery:read", label: "Read the gallery" },
  { scope: "gallery:write", label: "Change the gallery" },
  { scope: "admin", label: "Administer the studio" },
];

export interface SessionUser {
  id: string;
  name: string;
  role: Role;
}

export interface AuthInfo {
  accounts: boolean;
  /** the first-run page is offered to this (loopback) client: no user yet */
  setup: boolean;
  oidc: { label: string } | null;
}

export interface Me {
  user: SessionUser | null;
  csrf_token: string | null;
  accounts: boolean;
}

export interface SignedIn {
  user: SessionUser;
  csrf_token: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  created_at: string;
  last_used_at: string | null;
  monthly_budget_usd: number | null;
  user: { id: string; name: string };
}

export interface User {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  created_at: string;
  monthly_budget_usd: number | null;
}

export interface UserPatch {
  role?: Role;
  disabled?: boolean;
  password?: string;
  monthly_budget_usd?: number | null;
}

interface Budget {
  monthly_budget_usd: number | null;
  month_spend_usd: number;
  remaining_usd: number | null;
}

/** One row of GET /api/usage's by_user / by_key (the fields the admin page shows). */
export interface UsageRow {
  /** by_user: the user's name; by_key: whose key (null once revoked) */
  user?: string | null;
  /** by_key: the key's id and name (null once revoked) */
  key_id?: string;
  name?: string | null;
  jobs?: number;
  images?: number;
  cost_usd?: number;
  /** this calendar month: the user's or key's own budget */
  budget?: Budget;
}

export interface Usage {
  totals?: { jobs?: number; images?: number; cost_usd?: number };
  budget?: Budget;
  by_user?: UsageRow[];
  by_key?: UsageRow[];
}

/** Names are folder names: lowercase, a letter or digit first, at most 32. */
export const USER_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const accountKeys = {
  auth: ["auth"] as const,
  me: ["me"] as const,
  keys: (all: boolean) => ["keys", { all }] as const,
  users: ["users"] as const,
  usage: ["usage", "by-user"] as const,
};

export const accountsApi = {
  auth: () => request<AuthInfo>("GET", "/api/auth"),
  me: () => request<Me>("GET", "/api/me"),
  signIn: (username: string, password: string) => request<SignedIn>("POST", "/api/session", { username, password }),
  signOut: () => request<null>("DELETE", "/api/session"),
  setup: (username: string, password: string) => request<SignedIn>("POST", "/api/setup", { username, password }),
  keys: (all = false) => request<{ keys: ApiKey[] }>("GET", all ? "/api/keys?all=true" : "/api/keys").then((r) => r.keys),
  createKey: (body: { name: string; scopes: Scope[]; monthly_budget_usd: number | null }) =>
    request<{ key: ApiKey; secret: string }>("POST", "/api/keys", body),
  revokeKey: (id: string) => request<null>("DELETE", `/api/keys/${encodeURIComponent(id)}`),
  users: () => request<{ users: User[] }>("GET", "/api/users").then((r) => r.users),
  addUser: (body: { name: string; password: string; role: Role }) => request<{ user: User }>("POST", "/api/users", body).then((r) => r.user),
  updateUser: (id: string, patch: UserPatch) =>
    request<{ user: User }>("PATCH", `/api/users/${encodeURIComponent(id)}`, patch).then((r) => r.user),
  deleteUser: (id: string) => request<null>("DELETE", `/api/users/${encodeURIComponent(id)}`),
  usage: () => request<Usage>("GET", "/api/usage"),
};

/** "12.5" -> 12.5, "" -> null (no budget); anything else is an error message. */
export function parseBudget(text: string): { value: number | null } | { error: string } {
  const t = text.trim();
  if (t === "") return { value: null };
  if (!/^\d+(\.\d{1,2})?$/.test(t)) return { error: "A budget is an amount in dollars, like 20 or 7.50, or empty for none." };
  const value = Number(t);
  if (value > 1_000_000) return { error: "A budget is at most $1,000,000." };
  return { value };
}

export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return `$${value.toFixed(2)}`;
}

export function formatWhen(iso: string | null): string {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
