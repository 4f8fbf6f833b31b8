import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { chooseProvider, closeGate, openGate, shot, submitViaApi, waitJob } from "./helpers";

test.beforeEach(() => closeGate());

test("generate on the offline provider and watch progress to the image", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("offline");
  await page.getByLabel("Prompt", { exact: true }).fill("a lighthouse on a cliff at dusk");
  await page.getByRole("radio", { name: /16:9/ }).click();
  // the render may take less time than one look at the page: record every state the card shows
  await page.evaluate(() => {
    const seen = { progress: [] as string[], messages: [] as string[] };
    (window as unknown as { __seen: typeof seen }).__seen = seen;
    new MutationObserver(() => {
      document.querySelectorAll('article[data-job-id] [role="progressbar"]').forEach((el) => seen.progress.push(el.getAttribute("aria-valuenow") ?? ""));
      document.querySelectorAll('article[data-job-id] [data-testid="job-message"]').forEach((el) => seen.messages.push(el.textContent ?? ""));
    }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.getByLabel("Prompt", { exact: true }).press("Control+Enter");
  const card = page.locator("article[data-job-id]").first();
  await expect(card).toBeVisible();
  await expect(card).toHaveAttribute("data-status", "succeeded", { timeout: 45_000 });
  const seen = await page.evaluate(() => (window as unknown as { __seen: { progress: string[]; messages: string[] } }).__seen);
  // a real progress bar: the offline renderer reports its steps
  expect(seen.progress.some((v) => /\d+/.test(v))).toBe(true);
  expect(seen.messages.some((m) => m.includes("painting image 1 of 1"))).toBe(true);
  const img = card.getByTestId("job-image");
  await expect(img).toBeVisible();
  await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  await expect(page.getByTestId("session-count")).toHaveText("1");
  await shot(page, "studio");
});

test("the UI does not send an empty prompt, and keeps the prompt when the server refuses", async ({ page }) => {
  let posted = 0;
  page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/api/jobs") && posted++);
  await page.goto("/");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByRole("alert").filter({ hasText: "Write a prompt first." })).toBeVisible();
  expect(posted).toBe(0);
  // a refusal the UI cannot know beforehand: the provider became unavailable
  await page.route("**/api/jobs", (route) =>
    route.fulfill({ status: 422, json: { error: { code: "validation_error", message: "provider 'offline' is unavailable: test", field: "provider" } } }),
  );
  await page.getByLabel("Prompt", { exact: true }).fill("keep me");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByText("provider 'offline' is unavailable: test")).toBeVisible();
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("keep me");
});

test("cancel a running job", async ({ page }) => {
  await page.goto("/");
  await chooseProvider(page, "gated (tests)");
  await page.getByLabel("Prompt", { exact: true }).fill("a job to cancel");
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.locator("article[data-job-id]").first();
  await expect(card.getByTestId("job-message")).toContainText("first half");
  await expect(card.getByTestId("job-preview")).toBeVisible();
  await card.getByRole("button", { name: "Cancel" }).click();
  await expect(card).toHaveAttribute("data-status", "cancelled");
  await expect(card.getByRole("button", { name: "Retry" })).toBeVisible();
});

test("a failed job shows its error in plain words with retry", async ({ page }) => {
  await page.goto("/");
  await chooseProvider(page, "refusing (tests)");
  await page.getByLabel("Prompt", { exact: true }).fill("something the provider refuses");
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.locator("article[data-job-id]").first();
  await expect(card).toHaveAttribute("data-status", "failed");
  await expect(card.getByRole("alert")).toContainText("refused this prompt");
  await card.getByRole("button", { name: "Retry" }).click();
  await expect(page.locator("article[data-job-id]")).toHaveCount(2);
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("something the provider refuses");
});

test("a dropped socket reconnects mid-job and the card misses nothing", async ({ page, request }) => {
  await page.goto("/");
  await chooseProvider(page, "gated (tests)");
  await page.getByLabel("Images", { exact: true }).fill("2");
  await page.getByLabel("Prompt", { exact: true }).fill("a job that outlives the connection");
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.locator("article[data-job-id]").first();
  await expect(card.getByTestId("job-message")).toContainText("first half");
  const jobId = (await card.getAttribute("data-job-id"))!;

  // drop the transport and keep it down while the job finishes on the server
  await page.evaluate(() => {
    const s = (window as any).__atelierSocket;
    s.io.reconnection(false);
    s.io.engine.close();
  });
  await expect(page.getByRole("alert").filter({ hasText: "Connection to the server lost" })).toBeVisible();
  await shot(page, "connection-lost");
  openGate();
  try {
    await waitJob(request, jobId, "succeeded");
    await expect(card).toHaveAttribute("data-status", "running"); // nothing arrived while down
    await page.evaluate(() => {
      const s = (window as any).__atelierSocket;
      s.io.reconnection(true);
      s.connect();
    });
    await expect(page.getByText("Connection to the server lost")).toBeHidden();
    await expect(card).toHaveAttribute("data-status", "succeeded");
    await expect(card.getByTestId("job-image")).toHaveCount(2);
  } finally {
    closeGate();
  }
});

test("session strip collects this tab's images, not other sessions'", async ({ page, request }) => {
  await page.goto("/");
  await chooseProvider(page, "instant (tests)");
  await page.getByLabel("Images", { exact: true }).fill("3");
  await page.getByLabel("Prompt", { exact: true }).fill("three quick ones");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("session-strip").locator("img")).toHaveCount(3);
  // an image made in another session does not join this strip
  const other = await submitViaApi(request, { prompt: "elsewhere", provider: "instant", session: "someone-else" });
  await waitJob(request, other.id);
  await page.getByLabel("Prompt", { exact: true }).fill("one more");
  await page.getByLabel("Images", { exact: true }).fill("1");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("session-count")).toHaveText("4");
  await shot(page, "session-strip");
});

test("session ZIP holds this session's images", async ({ page, request }) => {
  await page.goto("/");
  await chooseProvider(page, "instant (tests)");
  await page.getByLabel("Images", { exact: true }).fill("4");
  await page.getByLabel("Prompt", { exact: true }).fill("four for the zip");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.getByTestId("session-count")).toHaveText("4");
  const session = await page.evaluate(() => sessionStorage.getItem("atelier.session"));
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download all as ZIP" }).click(),
  ]);
  const zip = readFileSync((await download.path())!);
  expect(zip.subarray(0, 2).toString()).toBe("PK");
  const names = new Set(zip.toString("latin1").match(/[\w-]+\.png/g) ?? []);
  const mine = (await (await request.get(`/api/images?session=${session}`)).json()).items as { path: string }[];
  expect(mine).toHaveLength(4);
  expect(names).toEqual(new Set(mine.map((i) => i.path.split("/").pop())));
});

test("providers page says which are available and why not", async ({ page }) => {
  await page.goto("/#/providers");
  const offline = page.locator("section[data-provider=offline]");
  await expect(offline).toContainText("Available");
  await expect(offline).toContainText("free");
  const keyless = page.locator("section[data-provider=keyless]");
  await expect(keyless).toContainText("Unavailable");
  await expect(keyless).toContainText("set KEYLESS_API_KEY");
  await shot(page, "providers");
});

test("phone-sized layout", async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  await page.goto("/");
  await page.getByLabel("Prompt", { exact: true }).fill("a phone-sized test");
  await chooseProvider(page, "instant (tests)");
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.locator("article[data-job-id]").first()).toHaveAttribute("data-status", "succeeded");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await shot(page, "studio-phone");
  await page.close();
});
