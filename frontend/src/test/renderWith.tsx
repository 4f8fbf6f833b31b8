// Render a page inside a fresh query client, as a signed-in person (accounts on).
import type { ReactNode } from "react";
import { render } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { AccountProvider } from "../accounts/account";
import type { SessionUser } from "../accounts/accountsApi";

export const ADMIN: SessionUser = { id: "u1", name: "ada", role: "admin" };
export const MEMBER: SessionUser = { id: "u2", name: "bob", role: "member" };

export function renderAs(user: SessionUser | null, ui: ReactNode) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={qc}>
      <AccountProvider value={{ accounts: user !== null, user, isAdmin: user?.role === "admin" }}>{ui}</AccountProvider>
    </QueryClientProvider>,
  );
}
