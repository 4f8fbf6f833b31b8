import { tmpdir } from "node:os";
import { join } from "node:path";

export const STUDIO_PORT = Number(process.env.E2E_STUDIO_PORT ?? 5391);
export const BIG_PORT = Number(process.env.E2E_BIG_PORT ?? 5392);
export const SUBPATH_PORT = Number(process.env.E2E_SUBPATH_PORT ?? 5393);
export const ACCOUNTS_PORT = Number(process.env.E2E_ACCOUNTS_PORT ?? 5394);
// provider_setup.spec.ts starts its own first-run studio and a fake of OpenAI's API
export const SETUP_PORT = Number(process.env.E2E_SETUP_PORT ?? 5396);
export const SETUP_FAKE_PORT = Number(process.env.E2E_SETUP_FAKE_PORT ?? 5397);
export const ACCOUNTS_URL = `http://127.0.0.1:${ACCOUNTS_PORT}`;
export const SUBPATH = "/studio";
export const STUDIO_URL = `http://127.0.0.1:${STUDIO_PORT}`;
export const BIG_URL = `http://127.0.0.1:${BIG_PORT}`;
/** The gated test provider finishes its jobs once this file exists. */
export const GATE = join(tmpdir(), `atelier-e2e-gate-${STUDIO_PORT}`);
export const SCREENSHOTS = new URL("./screenshots/", import.meta.url).pathname;
