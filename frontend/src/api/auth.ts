// ATELIER_TOKEN: when the server asks for it (401, or a refused socket), the studio asks
// the person once and keeps it in this browser. The server then also sets an HttpOnly
// cookie, so gallery <img> requests work without the header.
const KEY = "atelier.token";

export function getToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    /* private mode: the token lasts for this page only */
  }
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

let asking: Promise<string | null> | null = null;

/** Ask for the token (one prompt at a time however many requests were refused). */
export function askForToken(rejected: boolean): Promise<string | null> {
  if (!asking) {
    asking = Promise.resolve().then(() => {
      const message = rejected
        ? "That access token was not accepted. Enter the studio's access token (ATELIER_TOKEN):"
        : "This studio needs its access token (ATELIER_TOKEN):";
      const answer = window.prompt(message)?.trim() || null;
      setToken(answer);
      asking = null;
      return answer;
    });
  }
  return asking;
}
