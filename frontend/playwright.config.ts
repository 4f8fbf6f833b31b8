import { defineConfig } from "@playwright/test";
import { ACCOUNTS_PORT, BIG_PORT, GATE, STUDIO_PORT, SUBPATH, SUBPATH_PORT } from "./e2e/env";

// Real servers: one with an empty gallery for the studio flows, one that starts with
// 5,000 images for the gallery at scale, one under a sub-path, one with accounts. All load
// the test providers (gated, instant).
const python = process.env.ATELIER_PYTHON ?? "../.venv/bin/python";

export default defineConfig({
  testDir: "e2e",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1, // the gated provider's gate is one file per server
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${STUDIO_PORT}`,
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
    viewport: { width: 1440, height: 900 },
    colorScheme: "dark",
  },
  webServer: [
    {
      command: `${python} e2e/start_server.py --port ${STUDIO_PORT} --gate ${GATE} --enhancer`,
      url: `http://127.0.0.1:${STUDIO_PORT}/api/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      // also the OpenAI provider against a local fake of its API: a cloud provider for the matrix
      command: `${python} e2e/start_server.py --port ${BIG_PORT} --gallery 5000 --fake-cloud`,
      url: `http://127.0.0.1:${BIG_PORT}/api/health`,
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      // the same build behind a proxy's sub-path (ATELIER_BASE_PATH)
      command: `${python} e2e/start_server.py --port ${SUBPATH_PORT} --base-path ${SUBPATH}`,
      url: `http://127.0.0.1:${SUBPATH_PORT}${SUBPATH}/api/health`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
    {
      // accounts on: an admin and two members made through the CLI (e2e/accounts.spec.ts)
      command: `${python} e2e/start_server.py --port ${ACCOUNTS_PORT} --accounts`,
      url: `http://127.0.0.1:${ACCOUNTS_PORT}/api/auth`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
    },
  ],
});
