import { afterEach, describe, expect, it, vi } from "vitest";
import { downloadPosted } from "./download";

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
  localStorage.clear();
});

function zipAnswer() {
  return new Response("PK\u0005\u0006", {
    status: 200,
    headers: { "Content-Type": "application/zip", "Content-Disposition": 'attachment; filename="atelier-20261201-120000.zip"' },
  });
}

describe("exporting a selection", () => {
  it("sends thousands of ids in the body, in order, and saves the answer under the server's name", async () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `id${(i * 7919) % 5000}`);
    const fetchMock = vi.fn(async () => zipAnswer());
    vi.stubGlobal("fetch", fetchMock);
    const created = vi.fn(() => "blob:zip");
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: created, revokeObjectURL: vi.fn() }));
    const clicked: { href: string; download: string }[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push({ href: this.href, download: this.download });
    });
    localStorage.setItem("atelier.token", "secret");

    expect(await downloadPosted("/api/export.zip", { ids })).toBeNull();

    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/api/export.zip");
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string)).toEqual({ ids });
    expect(init.headers).toMatchObject({ "Content-Type": "application/json", Authorization: "Bearer secret" });
    expect(created).toHaveBeenCalledOnce();
    expect(clicked).toEqual([{ href: "blob:zip", download: "atelier-20261201-120000.zip" }]);
  });

  it("says what the server refused instead of saving an error page", async () => {
    const body = { error: { code: "validation_error", message: "ids is empty: an empty selection exports nothing", field: "ids" } };
    vi.stubGlobal("fetch", vi.fn(async () => new Response(JSON.stringify(body), { status: 422 })));
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click");
    expect(await downloadPosted("/api/export.zip", { ids: [] })).toBe(
      "The server could not make the ZIP (422: ids is empty: an empty selection exports nothing).",
    );
    vi.stubGlobal("fetch", vi.fn(async () => new Response("", { status: 405 })));
    expect(await downloadPosted("/api/export.zip", { ids: ["a"] })).toMatch(/not available on this server/);
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("offline"))));
    expect(await downloadPosted("/api/export.zip", { ids: ["a"] })).toBe("The server cannot be reached.");
    expect(click).not.toHaveBeenCalled();
  });
});
