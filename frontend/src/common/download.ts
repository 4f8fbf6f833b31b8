// Downloads that first check the endpoint exists, so a missing one gives a clear message
// instead of a saved error page.
import { authHeaders } from "../api/auth";

export async function downloadChecked(url: string): Promise<string | null> {
  try {
    const r = await fetch(url, { method: "HEAD" });
    if (r.status === 404 || r.status === 405) return "ZIP export is not available on this server yet.";
    if (!r.ok) return `The server could not make the ZIP (${r.status}).`;
  } catch {
    return "The server cannot be reached.";
  }
  save(url, "");
  return null;
}

/** POST ``body`` as JSON and save the answer as a file (a selection of any size: the ids
 * travel in the body, where a URL would be refused past a few hundred of them). The
 * answer's Content-Disposition names the file; an error answer becomes the returned note. */
export async function downloadPosted(url: string, body: unknown): Promise<string | null> {
  let r: Response;
  try {
    r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
  } catch {
    return "The server cannot be reached.";
  }
  if (!r.ok) {
    if (r.status === 405) return "Exporting a selection is not available on this server yet.";
    let message: string | undefined;
    try {
      message = ((await r.json()) as { error?: { message?: string } }).error?.message;
    } catch {
      message = undefined;
    }
    return `The server could not make the ZIP (${r.status}${message ? `: ${message}` : ""}).`;
  }
  const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") ?? "")?.[1] ?? "atelier-export.zip";
  const href = URL.createObjectURL(await r.blob());
  save(href, name);
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  return null;
}

function save(href: string, name: string): void {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}
