// What one tab sees of changes made elsewhere: a favourite set in another tab, and a job's
// place in a queue longer than the 20 places job.queued tells.
import { expect, test, type Page } from "@playwright/test";
import { chooseProvider, closeGate, shot, submitViaApi, waitJob } from "./helpers";

test.beforeEach(() => closeGate());

const tile = (page: Page, id: string) => page.locator(`[data-image-id="${id}"]`);
const starOf = (page: Page, id: string) => tile(page, id).getByRole("button", { name: /^(Un)?[Ff]avourite$/ });

async function makeImage(page: Page, prompt: string): Promise<string> {
  const job = await submitViaApi(page.request, { prompt, provider: "instant" });
  await waitJob(page.request, job.id);
  const detail = await (await page.request.get(`/api/jobs/${job.id}`)).json();
  return detail.job.images[0].id as string;
}

test("a favourite set in one tab shows in the other tab's grid and open viewer, without a reload", async ({ context }) => {
  const [one, two] = [await context.newPage(), await context.newPage()];
  const id = await makeImage(one, `two tabs ${Date.now()}`);
  for (const page of [one, two]) {
    await page.goto("/#/gallery");
    await expect(tile(page, id)).toBeVisible();
  }
  // tab one sets it in the grid; tab two's grid follows
  await one.bringToFront(); // a background tab gets few animation frames: the one in use is in front
  await tile(one, id).hover();
  await starOf(one, id).click();
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "true");
  await expect(starOf(two, id)).toHaveAttribute("aria-pressed", "true");

  // tab two's viewer is open on it: tab one's unfavourite reaches it
  await two.bringToFront();
  await tile(two, id).getByRole("button", { name: /^Open:/ }).click();
  const viewer = two.getByRole("dialog", { name: "Image viewer" });
  const viewerStar = viewer.getByRole("button", { name: /Favourite$/ });
  await expect(viewerStar).toHaveAttribute("aria-pressed", "true");
  await one.bringToFront();
  await tile(one, id).hover();
  await starOf(one, id).click();
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "false");
  await expect(viewerStar).toHaveAttribute("aria-pressed", "false");
  await expect(viewerStar).toHaveText("☆ Favourite");

  // tab two sets it in its viewer, tab one takes it back: the viewer shows tab one's word, not its own last click
  await two.bringToFront();
  await viewerStar.click();
  await expect(viewerStar).toHaveAttribute("aria-pressed", "true");
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "true");
  await one.bringToFront();
  await tile(one, id).hover();
  await starOf(one, id).click();
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "false");
  await expect(viewerStar).toHaveAttribute("aria-pressed", "false");
  await shot(two, "two-tabs-viewer");
  // and after closing it, tab two's grid says the same
  await two.bringToFront();
  await two.keyboard.press("Escape");
  await expect(starOf(two, id)).toHaveAttribute("aria-pressed", "false");
  expect((await (await one.request.get(`/api/images/${id}`)).json()).image.favorite).toBe(false);
});

test("a favourite in the gallery works after the tools page was open", async ({ context }) => {
  const [one, two] = [await context.newPage(), await context.newPage()];
  const id = await makeImage(one, `after the tools ${Date.now()}`);
  // the tools page keeps a list of recent images in the same cache as the gallery's listing
  for (const page of [one, two]) {
    await page.goto("/#/tools?tool=upscale");
    await expect(page.getByRole("link", { name: /after the tools/ }).first()).toBeVisible();
    await page.getByRole("link", { name: /^gallery$/i }).click();
    await expect(tile(page, id)).toBeVisible();
  }
  const errors: string[] = [];
  for (const page of [one, two]) page.on("pageerror", (e) => errors.push(e.message));
  await one.bringToFront();
  await tile(one, id).hover();
  await starOf(one, id).click();
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "true");
  await expect(starOf(two, id)).toHaveAttribute("aria-pressed", "true");
  expect(errors).toEqual([]);
});

test("a job far back in the queue shows its place, and the place moves as the jobs ahead finish", async ({ page }) => {
  const count = 25;
  const submitted: string[] = [];
  page.on("response", async (r) => {
    if (r.request().method() === "POST" && r.url().endsWith("/api/jobs") && r.status() === 202) submitted.push((await r.json()).job.id);
  });
  try {
    await page.goto("/");
    await chooseProvider(page, "gated (tests)");
    const cards = page.locator("article[data-job-id]");
    for (let i = 1; i <= count; i++) {
      await page.getByLabel("Prompt", { exact: true }).fill(`queued ${i} of ${count}`);
      await page.getByRole("button", { name: "Generate" }).click();
      await expect(cards).toHaveCount(i);
    }
    // the gated provider runs one at a time: the first runs, the last is 24th in the queue
    const last = page.getByRole("article", { name: `Job: queued ${count} of ${count}` });
    const first = page.getByRole("article", { name: `Job: queued 1 of ${count}` });
    await expect(first).toHaveAttribute("data-status", "running");
    await expect(last.getByTestId("job-status")).toHaveText(`Queued · #${count - 1} in queue`);
    await shot(page, "queue-place");
    // the running job ends: every place moves up by one
    const cancel = async (n: number) => {
      const card = page.getByRole("article", { name: `Job: queued ${n} of ${count}` });
      await card.getByRole("button", { name: "Cancel" }).click();
      await expect(card).toHaveAttribute("data-status", "cancelled");
    };
    await cancel(1);
    await expect(last.getByTestId("job-status")).toHaveText(`Queued · #${count - 2} in queue`);
    await cancel(2);
    await expect(last.getByTestId("job-status")).toHaveText(`Queued · #${count - 3} in queue`);
    // and one that leaves the queue from the middle
    await cancel(10);
    await expect(last.getByTestId("job-status")).toHaveText(`Queued · #${count - 4} in queue`);
    await expect(page.getByRole("article", { name: `Job: queued 9 of ${count}` }).getByTestId("job-status")).toHaveText("Queued · #6 in queue");
  } finally {
    // leave no gated job waiting for the next test
    for (const id of submitted) await page.request.post(`/api/jobs/${id}/cancel`);
    closeGate();
  }
});

test("the tools page's tabs each show their tool, and the URL keeps the image", async ({ page }) => {
  const id = await makeImage(page, `for the tools ${Date.now()}`);
  await page.goto(`/#/tools?tool=upscale&image=${id}`);
  const tabs = page.getByRole("navigation", { name: "Tools" });
  await expect(tabs.getByRole("link")).toHaveText(["Edit", "Upscale", "Social", "Templates", "Spend"]);
  await expect(tabs.getByRole("link", { name: "Upscale" })).toHaveAttribute("aria-current", "page");
  await expect(page.getByRole("button", { name: "Upscale", exact: true })).toBeVisible();
  await tabs.getByRole("link", { name: "Edit" }).click();
  await expect(page.getByLabel("Operation")).toBeVisible();
  await expect(page.getByText(/^Image: .*\(64×64\)$/)).toBeVisible();
  await tabs.getByRole("link", { name: "Social" }).click();
  await expect(page.getByTestId("social-previews")).toBeVisible();
  await tabs.getByRole("link", { name: "Templates" }).click();
  await expect(page.getByLabel("Search templates")).toBeVisible();
  await tabs.getByRole("link", { name: "Spend" }).click();
  await expect(page.getByRole("region", { name: "Spend this month" })).toBeVisible();
  await tabs.getByRole("link", { name: "Upscale" }).click();
  await expect(page.getByText(/^Image: .*\(64×64\)$/)).toBeVisible();
  await shot(page, "tools-tabs");
  // an unknown tool in the URL falls back to the first one
  await page.goto(`/#/tools?tool=nonsense&image=${id}`);
  await expect(tabs.getByRole("link", { name: "Edit" })).toHaveAttribute("aria-current", "page");
  await shot(page, "tools-unknown");
});

/** Drops the tab's socket and keeps it down until ``reconnect`` is called. */
async function dropSocket(page: Page) {
  await page.evaluate(() => {
    const s = (window as any).__atelierSocket;
    s.io.reconnection(false);
    s.io.engine.close();
  });
  await expect(page.getByRole("alert").filter({ hasText: "Connection to the server lost" })).toBeVisible();
}
async function reconnect(page: Page) {
  await page.evaluate(() => {
    const s = (window as any).__atelierSocket;
    s.io.reconnection(true);
    s.connect();
  });
  await expect(page.getByText("Connection to the server lost")).toBeHidden();
}

test("a favourite set while the other tab was offline shows there once it is back", async ({ context }) => {
  const [one, two] = [await context.newPage(), await context.newPage()];
  const id = await makeImage(one, `while offline ${Date.now()}`);
  for (const page of [one, two]) {
    await page.goto("/#/gallery");
    await expect(tile(page, id)).toBeVisible();
  }
  // tab two's viewer is open on the image, and its connection is down
  await two.bringToFront();
  await tile(two, id).getByRole("button", { name: /^Open:/ }).click();
  const viewerStar = two.getByRole("dialog", { name: "Image viewer" }).getByRole("button", { name: /Favourite$/ });
  await expect(viewerStar).toHaveAttribute("aria-pressed", "false");
  await dropSocket(two);
  await one.bringToFront();
  await tile(one, id).hover();
  await starOf(one, id).click();
  await expect(starOf(one, id)).toHaveAttribute("aria-pressed", "true");
  await reconnect(two);
  await expect(viewerStar).toHaveAttribute("aria-pressed", "true");
  await two.bringToFront();
  await two.keyboard.press("Escape");
  await expect(starOf(two, id)).toHaveAttribute("aria-pressed", "true");
});

test("a queued job's place is right after a reconnect or a reload, though the queue moved meanwhile", async ({ page, context }) => {
  const count = 25;
  await page.goto("/");
  const session = (await page.evaluate(() => sessionStorage.getItem("atelier.session")))!;
  // another tab listens to the queue feed: it says when the server has told the new order
  const watcher = await context.newPage();
  await watcher.goto("/#/providers");
  await watcher.waitForFunction(() => (window as any).__atelierSocket?.connected);
  await watcher.evaluate(() => {
    const s = (window as any).__atelierSocket;
    s.on("queue.updated", (e: { queued: string[] }) => ((window as any).__queued = e.queued));
    s.emit("subscribe", { topic: "queue" });
  });
  const ids: string[] = [];
  const told = (place: number) =>
    expect.poll(() => watcher.evaluate((id) => ((window as any).__queued ?? []).indexOf(id) + 1, ids[count - 1])).toBe(place);
  try {
    for (let i = 1; i <= count; i++) ids.push((await submitViaApi(page.request, { prompt: `offline queue ${i}`, provider: "gated", session })).id);
    await page.reload();
    const place = page.getByRole("article", { name: `Job: offline queue ${count}` }).getByTestId("job-status");
    await expect(place).toHaveText(`Queued · #${count - 1} in queue`);
    await dropSocket(page);
    // two jobs ahead leave the queue while this tab hears nothing
    for (const id of ids.slice(1, 3)) await page.request.post(`/api/jobs/${id}/cancel`);
    await told(count - 3);
    await reconnect(page);
    await expect(place).toHaveText(`Queued · #${count - 3} in queue`);
    // after a reload the card starts from the server's word, not from the place told at submit
    // (its job.queued, replayed after the subscribe: a place past the 20th is not told again)
    await page.reload();
    await expect(page.locator("article[data-job-id]")).toHaveCount(count);
    await expect(place).toHaveText(`Queued · #${count - 3} in queue`);
  } finally {
    for (const id of ids) await page.request.post(`/api/jobs/${id}/cancel`);
  }
});
