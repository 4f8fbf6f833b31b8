import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { FakeApi } from "../test/fakeApi";
import { ADMIN, MEMBER, renderAs } from "../test/renderWith";
import type { ApiKey } from "./accountsApi";
import KeysPage from "./KeysPage";

const key = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: "k1",
  name: "laptop",
  prefix: "atl_ab12",
  scopes: ["generate"],
  created_at: "2026-12-01T10:00:00Z",
  last_used_at: null,
  monthly_budget_usd: null,
  user: { id: "u2", name: "bob" },
  ...over,
});

let server: FakeApi;
let keys: ApiKey[];
beforeEach(() => {
  keys = [key()];
  server = new FakeApi()
    .on("GET /api/keys", () => ({ body: { keys } }))
    .on("POST /api/keys", (call) => {
      const created = key({ id: "k2", name: call.body.name, scopes: call.body.scopes, monthly_budget_usd: call.body.monthly_budget_usd });
      keys = [...keys, created];
      return { status: 201, body: { key: created, secret: "atl_secret_shown_once" } };
    })
    .on("DELETE /api/keys/k1", () => {
      keys = keys.filter((k) => k.id !== "k1");
      return { status: 204, body: null };
    })
    .install();
});
afterEach(() => vi.unstubAllGlobals());

describe("keys page", () => {
  it("creates a key with its scopes and budget, shows the secret once with a copy button", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    renderAs(MEMBER, <KeysPage />);
    await screen.findByText("laptop");
    await userEvent.type(screen.getByLabelText("Name"), "open-webui");
    await userEvent.type(screen.getByLabelText("Monthly budget ($)"), "7.50");
    await userEvent.click(screen.getByRole("checkbox", { name: /Read the gallery/ })); // on by default: now off
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));

    expect(await screen.findByTestId("key-secret")).toHaveTextContent("atl_secret_shown_once");
    expect(server.called("POST", "/api/keys")[0]!.body).toEqual({ name: "open-webui", scopes: ["generate"], monthly_budget_usd: 7.5 });
    await userEvent.click(within(screen.getByRole("region", { name: "New key" })).getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith("atl_secret_shown_once");
    expect(await screen.findByText("open-webui")).toBeInTheDocument(); // the list was loaded again

    await userEvent.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByText("atl_secret_shown_once")).toBeNull();
  });

  it("refuses a bad budget, an empty name and no scope without asking the server", async () => {
    renderAs(MEMBER, <KeysPage />);
    await screen.findByText("laptop");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Give the key a name");
    await userEvent.type(screen.getByLabelText("Name"), "script");
    await userEvent.type(screen.getByLabelText("Monthly budget ($)"), "-3");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(screen.getByRole("alert")).toHaveTextContent("A budget is an amount in dollars");
    await userEvent.clear(screen.getByLabelText("Monthly budget ($)"));
    await userEvent.click(screen.getByRole("checkbox", { name: /Generate images/ }));
    await userEvent.click(screen.getByRole("checkbox", { name: /Read the gallery/ }));
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Choose at least one scope.");
    expect(server.called("POST", "/api/keys")).toHaveLength(0);
  });

  it("shows the server's refusal (a member asking for the admin scope is not offered it)", async () => {
    server.on("POST /api/keys", { status: 403, body: { error: { code: "forbidden", message: "only admins may grant admin" } } });
    renderAs(MEMBER, <KeysPage />);
    await screen.findByText("laptop");
    expect(screen.queryByRole("checkbox", { name: /Administer/ })).toBeNull();
    await userEvent.type(screen.getByLabelText("Name"), "x");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("only admins may grant admin");
  });

  it("revokes a key after a second click", async () => {
    renderAs(MEMBER, <KeysPage />);
    await userEvent.click(await screen.findByRole("button", { name: "Revoke" }));
    expect(server.called("DELETE", "/api/keys/k1")).toHaveLength(0);
    await userEvent.click(screen.getByRole("button", { name: "Revoke “laptop” now" }));
    await waitFor(() => expect(screen.queryByText("laptop")).toBeNull());
    expect(server.called("DELETE", "/api/keys/k1")).toHaveLength(1);
  });

  it("lets an admin list everyone's keys and grant the admin scope", async () => {
    server.on("GET /api/keys?all=true", { body: { keys: [key({ id: "k9", name: "ci", user: { id: "u3", name: "carol" } })] } });
    renderAs(ADMIN, <KeysPage />);
    await screen.findByText("laptop");
    expect(screen.getByRole("checkbox", { name: /Administer the studio/ })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("checkbox", { name: "Everyone's" }));
    expect(await screen.findByText("of carol")).toBeInTheDocument();
  });
});
