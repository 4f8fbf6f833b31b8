import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { api } from "../api/client";
import { setAccountsMode, setCsrfToken } from "../api/auth";
import { FakeApi } from "../test/fakeApi";
import { AccountGate, useAccount } from "./account";
import { UserMenu } from "./UserMenu";

const alice = { id: "u1", name: "alice", role: "member" as const };

function Studio() {
  const { user, accounts } = useAccount();
  return (
    <div>
      <p>the studio</p>
      <p data-testid="who">{accounts ? (user?.name ?? "nobody") : "no accounts"}</p>
      <UserMenu onSignedOut={() => undefined} />
    </div>
  );
}

function renderGate(reload = vi.fn()) {
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={qc}>
      <AccountGate reload={reload} retryBaseMs={1}>
        <Studio />
      </AccountGate>
    </QueryClientProvider>,
  );
  return reload;
}

let server: FakeApi;
beforeEach(() => {
  server = new FakeApi().install();
  vi.spyOn(window, "prompt").mockImplementation(() => null);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  setAccountsMode(false);
  setCsrfToken(null);
  history.replaceState(null, "", "#/");
});

describe("without accounts", () => {
  it("renders the studio as today and never asks who you are", async () => {
    server.on("GET /api/auth", { body: { accounts: false, setup: true, oidc: null } });
    renderGate();
    expect(await screen.findByText("the studio")).toBeInTheDocument();
    expect(screen.getByTestId("who")).toHaveTextContent("no accounts");
    expect(screen.queryByRole("button", { name: "Sign out" })).toBeNull();
    expect(server.called("GET", "/api/me")).toHaveLength(0);
  });

  it("treats a server without GET /api/auth (404) as a studio without accounts", async () => {
    renderGate();
    expect(await screen.findByText("the studio")).toBeInTheDocument();
  });

  it("does not take a failing GET /api/auth for 'no accounts': it tries again, then says so", async () => {
    let calls = 0;
    server.on("GET /api/auth", () => (++calls < 3 ? { status: 503, body: null } : { body: { accounts: true, setup: false, oidc: null } }));
    server.on("GET /api/me", { status: 401, body: null });
    renderGate();
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.queryByText("the studio")).toBeNull();
    expect(calls).toBe(3);
  });

  it("shows the failure when GET /api/auth keeps failing, never the studio", async () => {
    server.on("GET /api/auth", { status: 500, body: { error: { code: "internal", message: "the server failed" } } });
    renderGate();
    expect(await screen.findByRole("alert")).toHaveTextContent("the server failed");
    expect(screen.queryByText("the studio")).toBeNull();
  });

  it("a 401 still asks for the ATELIER_TOKEN, not a sign-in", async () => {
    server.on("GET /api/auth", { body: { accounts: false, setup: false, oidc: null } }).on("GET /api/health", { status: 401, body: null });
    renderGate();
    await screen.findByText("the studio");
    await api.health().catch(() => undefined);
    expect(window.prompt).toHaveBeenCalledTimes(1);
    expect(screen.getByText("the studio")).toBeInTheDocument();
  });
});

describe("with accounts", () => {
  beforeEach(() => {
    server.on("GET /api/auth", { body: { accounts: true, setup: false, oidc: null } });
  });

  it("shows the sign-in page until the password is right, then the studio with the user menu", async () => {
    server.on("GET /api/me", { status: 401, body: { error: { code: "unauthorized", message: "sign in" } } });
    server.on("POST /api/session", (call) =>
      call.body.password === "right-horse"
        ? { body: { user: alice, csrf_token: "csrf-1" } }
        : { status: 401, body: { error: { code: "invalid_credentials", message: "invalid user name or password" } } },
    );
    renderGate();
    await userEvent.type(await screen.findByLabelText("User name"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong user name or password.");
    expect(screen.queryByText("the studio")).toBeNull();

    await userEvent.clear(screen.getByLabelText("Password"));
    await userEvent.type(screen.getByLabelText("Password"), "right-horse");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText("the studio")).toBeInTheDocument();
    expect(screen.getByTestId("who")).toHaveTextContent("alice");
    expect(screen.getByTestId("user-menu")).toHaveTextContent("alicemember");
    expect(server.called("POST", "/api/session").at(-1)!.body).toEqual({ username: "alice", password: "right-horse" });
    expect(window.prompt).not.toHaveBeenCalled();
  });

  it("says when sign-ins are throttled", async () => {
    server.on("GET /api/me", { status: 401, body: null });
    server.on("POST /api/session", { status: 429, body: { error: { code: "too_many_attempts", message: "Try again in 60 seconds." } } });
    renderGate();
    await userEvent.type(await screen.findByLabelText("User name"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "x");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Too many failed sign-ins. Try again in 60 seconds.");
  });

  it("offers the OpenID Connect sign-in when the studio has one", async () => {
    server.on("GET /api/auth", { body: { accounts: true, setup: false, oidc: { label: "Keycloak" } } });
    server.on("GET /api/me", { status: 401, body: null });
    renderGate();
    const link = await screen.findByRole("link", { name: "Sign in with Keycloak" });
    expect(link).toHaveAttribute("href", "/api/oidc/login");
  });

  it("sends the session's CSRF token on changes (not on reads), with the cookie", async () => {
    server.on("GET /api/me", { body: { user: alice, csrf_token: "csrf-9", accounts: true } });
    server.on("POST /api/jobs/j1/cancel", { body: { job: { id: "j1" } } }).on("GET /api/jobs/j1", { body: { job: { id: "j1" } } });
    renderGate();
    await screen.findByText("the studio");
    await api.cancel("j1");
    await api.job("j1");
    const post = server.called("POST", "/api/jobs/j1/cancel")[0]!;
    expect(post.headers["X-CSRF-Token"]).toBe("csrf-9");
    expect(post.credentials).toBe("same-origin");
    expect(server.called("GET", "/api/jobs/j1")[0]!.headers["X-CSRF-Token"]).toBeUndefined();
  });

  it("goes back to the sign-in page when the server stops accepting the session", async () => {
    server.on("GET /api/me", { body: { user: alice, csrf_token: "csrf-9", accounts: true } });
    server.on("GET /api/health", { status: 401, body: { error: { code: "unauthorized", message: "signed out" } } });
    renderGate();
    await screen.findByText("the studio");
    await expect(api.health()).rejects.toMatchObject({ status: 401 });
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(screen.queryByText("the studio")).toBeNull();
    expect(window.prompt).not.toHaveBeenCalled();
  });

  it("signs out with DELETE /api/session carrying the CSRF token", async () => {
    server.on("GET /api/me", { body: { user: alice, csrf_token: "csrf-9", accounts: true } }).on("DELETE /api/session", { status: 204, body: null });
    renderGate();
    await userEvent.click(await screen.findByRole("button", { name: "Sign out" }));
    await waitFor(() => expect(server.called("DELETE", "/api/session")).toHaveLength(1));
    expect(server.called("DELETE", "/api/session")[0]!.headers["X-CSRF-Token"]).toBe("csrf-9");
  });
});

describe("first run", () => {
  beforeEach(() => {
    server.on("GET /api/auth", { body: { accounts: false, setup: true, oidc: null } });
    history.replaceState(null, "", "#/setup");
  });

  it("checks the name and the passwords before creating the admin, then starts again signed in", async () => {
    server.on("POST /api/setup", { status: 201, body: { user: { ...alice, role: "admin" }, csrf_token: "c" } });
    const reload = renderGate();
    await screen.findByRole("heading", { name: "Create the admin" });
    await userEvent.type(screen.getByLabelText("User name"), "Alice Smith");
    await userEvent.type(screen.getByLabelText("Password"), "long-enough-1");
    await userEvent.type(screen.getByLabelText("Password again"), "long-enough-1");
    await userEvent.click(screen.getByRole("button", { name: "Create the admin and sign in" }));
    expect(screen.getByRole("alert")).toHaveTextContent("lowercase");
    expect(server.called("POST", "/api/setup")).toHaveLength(0);

    await userEvent.clear(screen.getByLabelText("User name"));
    await userEvent.type(screen.getByLabelText("User name"), "alice");
    await userEvent.type(screen.getByLabelText("Password again"), "x");
    await userEvent.click(screen.getByRole("button", { name: "Create the admin and sign in" }));
    expect(screen.getByRole("alert")).toHaveTextContent("The two passwords differ.");

    await userEvent.clear(screen.getByLabelText("Password again"));
    await userEvent.type(screen.getByLabelText("Password again"), "long-enough-1");
    await userEvent.click(screen.getByRole("button", { name: "Create the admin and sign in" }));
    await waitFor(() => expect(reload).toHaveBeenCalled());
    expect(server.called("POST", "/api/setup")[0]!.body).toEqual({ username: "alice", password: "long-enough-1" });
    expect(location.hash).toBe("#/");
  });

  it("is not shown where the server does not offer it", async () => {
    server.on("GET /api/auth", { body: { accounts: false, setup: false, oidc: null } });
    renderGate();
    expect(await screen.findByText("the studio")).toBeInTheDocument();
    expect(screen.queryByRole("heading", { name: "Create the admin" })).toBeNull();
  });
});
