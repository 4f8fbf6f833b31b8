import { expect, test } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { SETUP_FAKE_PORT, SETUP_PORT } from "./env";
import { shot } from "./helpers";

// A first run: a studio with no keys and no test providers (only the offline sketch
// renderer works), and a fake of OpenAI's API that is in no setting. The key and the base
// URL are entered on the Providers page; the next image comes from the fake, no restart.
const PORT = SETUP_PORT;
const FAKE_PORT = SETUP_FAKE_PORT;
const URL = `http://127.0.0.1:${PORT}`;
const KEY = "sk-e2e-entered-in-the-studio";
const python = process.env.ATELIER_PYTHON ?? "../.venv/bin/python";
let server: ChildProcess | null = null;

test.use({ baseURL: URL });

test.beforeAll(async () => {
  test.setTimeout(150_000); // a cold start on a busy machine
  server = spawn(python, ["e2e/start_server.py", "--port", String(PORT), "--setup-fake", String(FAKE_PORT)], {
    detached: true, // its own process group: the fake API goes with it
    stdio: ["ignore", "ignore", "inherit"],
  });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      if ((await fetch(`${URL}/api/health`)).ok && (await fetch(`http://127.0.0.1:${FAKE_PORT}/v1/models`)).status === 401) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error("the first-run studio did not start");
    await new Promise((r) => setTimeout(r, 200));
  }
});

test.afterAll(() => {
  if (server?.pid) process.kill(-server.pid, "SIGTERM");
});

test("a key entered on the Providers page is tested and makes the next image, without a restart", async ({ page, request }) => {
  await page.goto("/");
  const note = page.getByRole("note");
  await expect(note).toContainText("Only the offline sketch renderer works now");
  await expect(page.getByLabel("Provider", { exact: true }).locator("option", { hasText: "Sketch renderer" })).toHaveCount(1);
  await shot(page, "provider-setup-first-run");
  await note.getByRole("link", { name: "Set up a provider" }).click();
  await expect(page).toHaveURL(/#\/providers$/);

  const openai = page.getByRole("region", { name: "OpenAI", exact: true });
  await expect(openai.getByTestId("key-status-openai")).toHaveText("No key yet.");
  await expect(openai.getByText("Unavailable")).toBeVisible();
  await openai.getByLabel("Base URL").fill(`http://127.0.0.1:${FAKE_PORT}/v1`);
  await openai.getByRole("button", { name: "Save settings" }).click();
  await expect(openai.getByRole("button", { name: "Save settings" })).toBeDisabled();

  // pasted with spaces around it, as a copy often is: trimmed
  await openai.getByLabel("API key").fill(`  ${KEY}  `);
  await openai.getByRole("button", { name: "Save key" }).click();
  await expect(openai.getByTestId("key-status-openai")).toContainText("Key set: …udio");
  await expect(openai.getByLabel("API key")).toHaveValue(""); // write-only: never filled back
  await expect(openai.getByText("Available", { exact: true })).toBeVisible();

  await openai.getByRole("button", { name: "Test" }).click();
  await expect(openai.getByRole("status", { name: "OpenAI test" })).toHaveText("works: OpenAI accepted the key (2 models listed)");
  const toTop = () => openai.evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 56));
  await toTop();
  await shot(page, "provider-setup-page");
  await page.setViewportSize({ width: 390, height: 844 });
  await toTop();
  await shot(page, "provider-setup-phone");
  await page.setViewportSize({ width: 1440, height: 900 });
  // the local models' row says what is missing, the install command and where weights go
  const local = page.getByRole("region", { name: "local models (diffusers)" });
  await expect(local.getByLabel("Local models setup")).toContainText("ATELIER_DIFFUSERS_MODELS_DIR");
  await expect(local.getByLabel("Local models setup")).toContainText("hf download");
  await local.evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 56));
  await shot(page, "provider-setup-local");

  // the studio: no first-run line now, and OpenAI makes the image
  await page.goto("/#/");
  await expect(page.getByRole("note")).toHaveCount(0);
  await page.getByLabel("Provider", { exact: true }).selectOption({ label: "OpenAI" });
  await page.getByLabel("Prompt", { exact: true }).fill("a lighthouse on a cliff in a storm");
  await page.getByRole("button", { name: "Generate" }).click();
  const made = page.getByTestId("session-strip").locator("img");
  await expect(made).toHaveCount(1, { timeout: 30_000 });
  await expect.poll(() => made.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  const images = (await (await request.get("/api/images?provider=openai")).json()).items;
  expect(images).toHaveLength(1);
  await shot(page, "provider-setup-generated");

  // the key is in no answer the page got, nor in the page
  expect(await page.content()).not.toContain(KEY);
  const settings = await (await request.get("/api/providers/openai/settings")).text();
  expect(settings).not.toContain(KEY);
  expect(settings).toContain('"source":"studio"');
});
