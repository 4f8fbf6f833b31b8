import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import type { ProviderSettings } from "../api/schema.generated";
import { ProviderSetup } from "./ProviderSetup";

function settings(over: Partial<ProviderSettings> = {}): ProviderSettings {
  return {
    provider: { id: "openai", label: "OpenAI", available: false, reason: "no key" },
    settings: { enabled: true, base_url: "https://api.openai.com/v1", timeout_seconds: 180, retries: 4, concurrency: 2 },
    sources: { base_url: "default", timeout_seconds: "default", retries: "default", concurrency: "default" },
    fields: [
      { name: "base_url", label: "Base URL", kind: "url", min: null, max: null, help: "" },
      { name: "retries", label: "Retries", kind: "integer", min: 0, max: 20, help: "" },
    ],
    takes_key: true,
    key: { set: false, source: null, last4: null, set_at: null },
    version: 1,
    ...over,
  };
}

/** A server for the three routes: answers from ``state``, records what was sent. */
function serve(state: { answer: ProviderSettings; status?: number }) {
  const sent: { method: string; url: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init?: RequestInit) => {
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
      sent.push({ method: init?.method ?? "GET", url, body });
      const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status });
      if (state.status) return json({ error: { code: "forbidden", message: "no" } }, state.status);
      if (url.endsWith("/test")) return json({ ok: false, verdict: "wrong_key", message: "wrong key: OpenAI refused it (HTTP 401)" });
      if (init?.method === "PUT" && "api_key" in body)
        state.answer = settings({ key: { set: true, source: "studio", last4: String(body.api_key).trim().slice(-4), set_at: null } });
      return json(state.answer);
    }),
  );
  return sent;
}

function show() {
  const client = new QueryClient();
  return render(
    <QueryClientProvider client={client}>
      <ProviderSetup id="openai" />
    </QueryClientProvider>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("setting a provider up", () => {
  it("takes a key write-only: sent once, never shown, only its last four characters come back", async () => {
    const sent = serve({ answer: settings() });
    show();
    const field = await screen.findByLabelText("API key");
    expect(field).toHaveAttribute("type", "password");
    expect(screen.getByTestId("key-status-openai")).toHaveTextContent("No key yet.");
    await userEvent.type(field, "  sk-secret-abcd ");
    await userEvent.click(screen.getByRole("button", { name: "Save key" }));
    await waitFor(() => expect(screen.getByTestId("key-status-openai")).toHaveTextContent("Key set: …abcd"));
    expect(field).toHaveValue("");
    expect(sent.filter((s) => s.method === "PUT").map((s) => s.body)).toEqual([{ api_key: "  sk-secret-abcd " }]);
    expect(document.body.innerHTML).not.toContain("sk-secret");
  });

  it("shows a key set by the environment without a field to change it", async () => {
    serve({ answer: settings({ key: { set: true, source: "environment", last4: null, set_at: null } }) });
    show();
    expect(await screen.findByText(/Set by the environment/)).toBeInTheDocument();
    expect(screen.queryByPlaceholderText(/Paste/)).toBeNull();
  });

  it("sends only the settings that changed, and says the test's answer in words", async () => {
    const sent = serve({ answer: settings() });
    show();
    const retries = await screen.findByLabelText("Retries");
    await userEvent.clear(retries);
    await userEvent.type(retries, "2");
    await userEvent.click(screen.getByRole("button", { name: "Save settings" }));
    await waitFor(() => expect(sent.some((s) => s.method === "PUT")).toBe(true));
    expect(sent.find((s) => s.method === "PUT")!.body).toEqual({ retries: 2 });
    await userEvent.click(screen.getByRole("button", { name: "Test" }));
    expect(await screen.findByRole("status", { name: "OpenAI test" })).toHaveTextContent("wrong key: OpenAI refused it");
  });

  it("tells someone who may not set providers up so, without a form", async () => {
    serve({ answer: settings(), status: 403 });
    show();
    expect(await screen.findByText("Only an admin can set providers up.")).toBeInTheDocument();
    expect(screen.queryByLabelText("API key")).toBeNull();
  });
});
