// The path the studio is served under: "" at the root, "/studio" behind a proxy's sub-path
// (ATELIER_BASE_PATH). The server serves index.html at `${BASE}/`, so it is the page's folder.
// Every URL the SPA builds, and every root-relative URL the server sends (image `url`,
// `thumb_url`), goes through here, so the same build works at the root and under a sub-path.

function pageFolder(): string {
  if (typeof document === "undefined") return "";
  return new URL(".", document.baseURI).pathname.replace(/\/$/, "");
}

export const BASE = pageFolder();

/** `/api/x` -> `${BASE}/api/x`; other URLs (absolute, data:, blob:) are left alone. */
export function withBase(url: string): string {
  return BASE && url.startsWith("/") && !url.startsWith("//") && !url.startsWith(BASE + "/") ? BASE + url : url;
}

/** The server's payloads with their root-relative `*url` fields under BASE. */
export function rebase<T>(value: T): T {
  if (!BASE || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(rebase) as T;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value) || value instanceof Blob) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    out[key] = typeof item === "string" && /url$/i.test(key) ? withBase(item) : rebase(item);
  }
  return out as T;
}
