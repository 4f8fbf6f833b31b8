import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { FakeApi } from "../test/fakeApi";
import { ADMIN, MEMBER, renderAs } from "../test/renderWith";
import type { User } from "./accountsApi";
import AdminPage from "./AdminPage";

const user = (over: Partial<User>): User => ({ id: "u1", name: "ada", role: "admin", disabled: false, created_at: "2026-12-01T10:00:00Z", monthly_budget_usd: null, ...over });

let server: FakeApi;
let users: User[];
beforeEach(() => {
  users = [user({}), user({ id: "u2", name: "bob", role: "member" })];
  server = new FakeApi()
    .on("GET /api/users", () => ({ body: { users } }))
    .on("PATCH /api/users/u2", (call) => {
      users = users.map((u) => (u.id === "u2" ? { ...u, ...call.body } : u));
      return { body: { user: users[1] } };
    })
    .on("POST /api/users", (call) => {
      const added = user({ id: "u3", name: call.body.name, role: call.body.role });
      users = [...users, added];
      return { status: 201, body: { user: added } };
    })
    .on("DELETE /api/users/u2", () => {
      users = users.filter((u) => u.id !== "u2");
      return { status: 204, body: null };
    })
    .on("GET /api/usage", {
      body: {
        budget: { monthly_budget_usd: 50, month_spend_usd: 3.2, remaining_usd: 46.8 },
        by_user: [{ user: "bob", jobs: 4, images: 9, cost_usd: 1.25, budget: { monthly_budget_usd: 10, month_spend_usd: 1.5, remaining_usd: 8.5 } }],
        by_key: [
          { key_id: "k1", name: "laptop", user: "bob", jobs: 1, images: 2, cost_usd: 0.5, budget: { monthly_budget_usd: null, month_spend_usd: 0.5, remaining_usd: null } },
          { key_id: "k0deadbeef", name: null, user: null, jobs: 1, images: 1, cost_usd: 0.1, budget: { monthly_budget_usd: null, month_spend_usd: 0.1, remaining_usd: null } },
        ],
      },
    })
    .install();
});
afterEach(() => vi.unstubAllGlobals());

const row = (name: string) => screen.getAllByTestId("user-row").find((r) => r.dataset.user === name)!;

describe("admin page", () => {
  it("changes a user's role, disables them and sets a budget", async () => {
    renderAs(ADMIN, <AdminPage />);
    await screen.findByLabelText("Role of bob");
    // one's own role and access cannot be changed here
    expect(within(row("ada")).getByLabelText("Role of ada")).toBeDisabled();
    await userEvent.selectOptions(within(row("bob")).getByLabelText("Role of bob"), "admin");
    await userEvent.click(within(row("bob")).getByRole("checkbox", { name: "Disabled" }));
    const budget = within(row("bob")).getByLabelText("Monthly budget of bob");
    await userEvent.type(budget, "abc{Enter}");
    expect(within(row("bob")).getByText(/A budget is an amount/)).toBeInTheDocument();
    await userEvent.clear(budget);
    await userEvent.type(budget, "12{Enter}");
    await waitFor(() => expect(server.called("PATCH", "/api/users/u2")).toHaveLength(3));
    expect(server.called("PATCH", "/api/users/u2").map((c) => c.body)).toEqual([{ role: "admin" }, { disabled: true }, { monthly_budget_usd: 12 }]);
  });

  it("shows a change at once and takes it back when the server refuses it", async () => {
    server.on("PATCH /api/users/u2", { status: 409, body: { error: { code: "last_admin", message: "the studio keeps one admin" } } });
    renderAs(ADMIN, <AdminPage />);
    await screen.findByLabelText("Role of bob");
    const disabled = within(row("bob")).getByRole("checkbox", { name: "Disabled" });
    await userEvent.click(disabled);
    expect(await screen.findByRole("alert")).toHaveTextContent("the studio keeps one admin");
    expect(within(row("bob")).getByRole("checkbox", { name: "Disabled" })).not.toBeChecked();
  });

  it("adds a user after checking the name, deletes one after a second click", async () => {
    renderAs(ADMIN, <AdminPage />);
    await screen.findByLabelText("Role of bob");
    const form = screen.getByRole("form", { name: "Add a user" });
    await userEvent.type(within(form).getByLabelText("Name"), "Carol");
    await userEvent.type(within(form).getByLabelText("Password"), "carols-password");
    await userEvent.click(within(form).getByRole("button", { name: "Add user" }));
    expect(within(form).getByRole("alert")).toHaveTextContent("lowercase");
    expect(server.called("POST", "/api/users")).toHaveLength(0);
    await userEvent.clear(within(form).getByLabelText("Name"));
    await userEvent.type(within(form).getByLabelText("Name"), "carol");
    await userEvent.click(within(form).getByRole("button", { name: "Add user" }));
    expect(await screen.findByLabelText("Role of carol")).toBeInTheDocument();
    expect(server.called("POST", "/api/users")[0]!.body).toEqual({ name: "carol", password: "carols-password", role: "member" });

    await userEvent.click(within(row("bob")).getByRole("button", { name: "Delete" }));
    await userEvent.click(within(row("bob")).getByRole("button", { name: "Delete bob" }));
    await waitFor(() => expect(screen.queryByLabelText("Role of bob")).toBeNull());
  });

  it("shows the month's usage by user and by key", async () => {
    renderAs(ADMIN, <AdminPage />);
    const byUser = await screen.findByTestId("usage-by-user");
    expect(byUser).toHaveTextContent("bob");
    expect(byUser).toHaveTextContent("$1.25");
    expect(byUser).toHaveTextContent("$10.00");
    expect(byUser).toHaveTextContent("$1.50");
    expect(screen.getByTestId("usage-by-key")).toHaveTextContent("laptop (bob)");
    expect(screen.getByTestId("usage-by-key")).toHaveTextContent("revoked key k0deadbe");
    expect(screen.getByText(/Studio: \$3\.20 spent of \$50\.00/)).toBeInTheDocument();
  });

  it("is nothing for a member", () => {
    renderAs(MEMBER, <AdminPage />);
    expect(screen.getByText("Only admins see this page.")).toBeInTheDocument();
  });
});
