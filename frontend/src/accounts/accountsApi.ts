// The accounts API (docs/api.md, "Accounts"): who is signed in, sign-in/out, the first-run
// admin, API keys, users (admins) and usage by user and key. Query keys in one factory.
import { request } from "../api/client";
import type * as Api from "../api/schema.generated";

export type Role = Api.User["role"];
export type Scope = Api.ApiKey["scopes"][number];
export const SCOPES: { scope: Scope; label: string }[] = [
  { scope: "generate", label: "Generate images" },
  { scope: "gallery:read", label: "Read the gallery" },
  { scope: "gallery:write", label: "Change the gallery" },
  { scope: "admin", label: "Administer the studio" },
];

export type SessionUser = Api.UserBrief;
/** accounts on; the first-run page offered to this (loopback) client; the OIDC button */
export type AuthInfo = Api.AuthInfo;
export type Me = Api.Me;
export type SignedIn = Api.SessionStarted;
export type ApiKey = Api.ApiKey;
export type User = Api.User;
export type Usage = Api.Usage;
/** One row of GET /api/usage's by_user or by_key, as the admin page reads it. */
export type UsageRow = Api.UserUsage | Api.KeyUsage;

export interface UserPatch {
  role?: Role;
  disabled?: boolean;
  password?: string;
  monthly_budget_usd?: number | null;
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
  keys: (all = false) => request<Api.Keys>("GET", all ? "/api/keys?all=true" : "/api/keys").then((r) => r.keys),
  createKey: (body: { name: string; scopes: Scope[]; monthly_budget_usd: number | null }) =>
    request<Api.KeyCreated>("POST", "/api/keys", body),
  revokeKey: (id: string) => request<null>("DELETE", `/api/keys/${encodeURIComponent(id)}`),
  users: () => request<Api.Users>("GET", "/api/users").then((r) => r.users),
  addUser: (body: { name: string; password: string; role: Role }) => request<Api.UserEnvelope>("POST", "/api/users", body).then((r) => r.user),
  updateUser: (id: string, patch: UserPatch) =>
    request<Api.UserEnvelope>("PATCH", `/api/users/${encodeURIComponent(id)}`, patch).then((r) => r.user),
  deleteUser: (id: string) => request<null>("DELETE", `/api/users/${encodeURIComponent(id)}`),
  usage: () => request<Usage>("GET", "/api/usage?period=month"),
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
