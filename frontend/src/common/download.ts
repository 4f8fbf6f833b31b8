// Downloads that first check the endpoint exists, so a missing one gives a clear message
// instead of a saved error page.
export async function downloadChecked(url: string): Promise<string | null> {
  try {
    const r = await fetch(url, { method: "HEAD" });
    if (r.status === 404 || r.status === 405) return "ZIP export is not available on this server yet.";
    if (!r.ok) return `The server could not make the ZIP (${r.status}).`;
  } catch {
    return "The server cannot be reached.";
  }
  const a = document.createElement("a");
  a.href = url;
  a.download = "";
  document.body.appendChild(a);
  a.click();
  a.remove();
  return null;
}
