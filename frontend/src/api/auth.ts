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

// --- Accounts (issue 13) ------------------------------------------------------------------
// With accounts on, a person signs in (an HttpOnly session cookie); requests that change
// state carry the session's CSRF token as X-CSRF-Token, and a 401 means "sign in again"
// (not the ATELIER_TOKEN prompt). Without accounts none of this is used.
let accountsOn = false;
let csrfToken: string | null = null;
const signedOutListeners = new Set<() => void>();

export function setAccountsMode(on: boolean): void {
  accountsOn = on;
}

export function accountsMode(): boolean {
  return accountsOn;
}

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** X-CSRF-Token for a state-changing request, when a session gave one. */
export function csrfHeaders(method: string): Record<string, string> {
  return csrfToken && !SAFE_METHODS.has(method.toUpperCase()) ? { "X-CSRF-Token": csrfToken } : {};
}

/** Called when the server no longer accepts the session (signed out, expired, disabled). */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export function signedOut(): void {
  csrfToken = null;
  signedOutListeners.forEach((l) => l());
}
