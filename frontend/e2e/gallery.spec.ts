import { expect, test, type Page } from "@playwright/test";
import { BIG_URL } from "./env";
import { closeGate, shot, submitViaApi, waitJob } from "./helpers";

test.beforeEach(() => closeGate());

async function makeImages(page: Page, prompt: string, n = 1, extra: Record<string, unknown> = {}) {
  const job = await submitViaApi(page.request, { prompt, provider: "instant", n, ...extra });
  await waitJob(page.request, job.id);
  return job;
}

const tiles = (page: Page) => page.locator("[data-image-id]");

test("new images appear in the gallery live, from any tab or process", async ({ page }) => {
  await page.goto("/#/gallery");
  await expect(page.getByTestId("gallery-count")).not.toHaveText("Loading…");
  const before = await tiles(page).count();
  await makeImages(page, "arrives while watching");
  await expect(tiles(page)).toHaveCount(before + 1);
  await expect(tiles(page).first().getByRole("button").first()).toHaveAttribute("aria-label", /arrives while watching/);
});

test("lightbox: parameters, keyboard, and use these settings", async ({ page }) => {
  await makeImages(page, "an old stone bridge in fog", 1, { seed: 1234, style: "none" });
  await makeImages(page, "a second picture", 1, { seed: 99 });
  await page.goto("/#/gallery");
  // both new images listed, in order, before the viewer opens on them
  await expect(tiles(page).nth(1).getByRole("button").first()).toHaveAttribute("aria-label", /an old stone bridge in fog/);
  await tiles(page).first().getByRole("button").first().click();
  const viewer = page.getByRole("dialog", { name: "Image viewer" });
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText("a second picture");
  await page.keyboard.press("ArrowRight");
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText("an old stone bridge in fog");
  await expect(viewer).toContainText("1234");
  await expect.poll(() => viewer.getByTestId("lightbox-image").evaluate((el: HTMLImageElement) => el.naturalWidth)).toBeGreaterThan(0);
  await shot(page, "lightbox");
  await page.keyboard.press("ArrowLeft");
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText("a second picture");
  await page.keyboard.press("Escape");
  await expect(viewer).toBeHidden();

  await tiles(page).nth(1).getByRole("button").first().click();
  await viewer.getByRole("button", { name: "Use these settings" }).click();
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("an old stone bridge in fog");
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("instant");
  await expect(page.getByLabel("Seed", { exact: true })).toHaveValue("1234");
  await expect(page.getByRole("button", { name: /Unlock seed/ })).toBeVisible();
});

test("drop an image on the page to reuse its parameters", async ({ page }) => {
  await makeImages(page, "a dropped postcard", 1, { seed: 4242 });
  await page.goto("/");
  const list = await (await page.request.get("/api/images?limit=1")).json();
  const url = list.items[0].url as string;
  const dataTransfer = await page.evaluateHandle(async (src) => {
    const blob = await (await fetch(src)).blob();
    const dt = new DataTransfer();
    dt.items.add(new File([blob], "postcard.png", { type: "image/png" }));
    return dt;
  }, url);
  await page.dispatchEvent("body", "dragenter", { dataTransfer });
  await page.dispatchEvent("body", "drop", { dataTransfer });
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("a dropped postcard");
  await expect(page.getByLabel("Seed", { exact: true })).toHaveValue("4242");
});

test("gallery search", async ({ page }) => {
  const word = `walrus${Date.now().toString(36)}`; // this run's alone, however often the suite runs
  await makeImages(page, `a violet ${word} reading`);
  await makeImages(page, "an ordinary kettle");
  await page.goto("/#/gallery");
  await page.getByLabel("Search", { exact: true }).fill(word);
  await expect(tiles(page)).toHaveCount(1);
  await expect(page.getByTestId("gallery-count")).toHaveText("1 image");
  await shot(page, "gallery-search");
});

test("favourite an image", async ({ page }) => {
  await makeImages(page, "a favourite one");
  const first = (await (await page.request.get("/api/images?limit=1")).json()).items[0];
  await page.goto("/#/gallery");
  const tile = tiles(page).first();
  await tile.hover();
  await tile.getByRole("button", { name: "Favourite", exact: true }).click();
  await expect(tile.getByRole("button", { name: "Unfavourite", exact: true })).toBeVisible();
  // the button turns at once (optimistic); the server has it when its PATCH is answered
  await expect
    .poll(async () => (await (await page.request.get(`/api/images/${first.id}`)).json()).image.favorite)
    .toBe(true);
  await page.getByLabel("Favourites").check();
  await expect(tiles(page).first()).toHaveAttribute("data-image-id", first.id);
});

test("delete an image and undo", async ({ page }) => {
  await makeImages(page, "a deletable one");
  const first = (await (await page.request.get("/api/images?limit=1")).json()).items[0];
  await page.goto("/#/gallery");
  const tile = page.locator(`[data-image-id="${first.id}"]`);
  await tile.hover();
  await tile.getByRole("button", { name: "Delete" }).click();
  await expect(tile).toHaveCount(0); // at once, before the server answers
  await expect.poll(async () => (await page.request.get(`/api/images/${first.id}`)).status()).toBe(404);
  await page.getByRole("button", { name: "Undo" }).click();
  await expect(tile).toHaveCount(1);
  await expect.poll(async () => (await page.request.get(`/api/images/${first.id}`)).status()).toBe(200);
});

test("select several images, delete them in one request, and undo", async ({ page }) => {
  await makeImages(page, "a pair to delete together", 2);
  const [a, b] = (await (await page.request.get("/api/images?limit=2")).json()).items;
  await page.goto("/#/gallery");
  const bulk: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/images/delete")) bulk.push(r.postData() ?? "");
  });
  await page.getByLabel(`Select ${a.prompt}`).first().check();
  await page.locator(`[data-image-id="${b.id}"]`).getByRole("checkbox").check();
  await page.getByRole("button", { name: "Delete selected" }).click();
  await expect(page.locator(`[data-image-id="${a.id}"]`)).toHaveCount(0);
  await expect(page.locator(`[data-image-id="${b.id}"]`)).toHaveCount(0);
  await expect.poll(async () => (await page.request.get(`/api/images/${a.id}`)).status()).toBe(404);
  expect(bulk).toHaveLength(1); // one request for both
  expect(JSON.parse(bulk[0] ?? "{}").ids.sort()).toEqual([a.id, b.id].sort());
  await page.getByRole("button", { name: "Undo" }).click();
  await expect(page.locator(`[data-image-id="${a.id}"]`)).toHaveCount(1);
  await expect(page.locator(`[data-image-id="${b.id}"]`)).toHaveCount(1);
});

test.describe("a gallery of 5,000 images", () => {
  test.use({ baseURL: BIG_URL });

  test("scrolls to the end with no more than about 100 image elements in the page", async ({ page }) => {
    await page.goto("/#/gallery");
    const scroller = page.getByTestId("gallery-scroll");
    await expect(tiles(page).first()).toBeVisible();
    await page.waitForFunction(() => [...document.images].every((i) => i.complete));
    await shot(page, "gallery");
    let maxImgs = 0;
    // scroll to the bottom again and again: each time the next page loads, until all are in
    for (let i = 0; i < 100; i++) {
      const state = await scroller.evaluate((el) => {
        el.scrollTop = el.scrollHeight;
        return { imgs: document.querySelectorAll("img").length };
      });
      maxImgs = Math.max(maxImgs, state.imgs);
      const label = await page.getByTestId("gallery-count").textContent();
      if (label === "5,000 images") break;
      await page.waitForTimeout(100);
    }
    // and back up through the middle, counting again
    for (const fraction of [0.75, 0.5, 0.25, 0]) {
      await scroller.evaluate((el, f) => (el.scrollTop = el.scrollHeight * f), fraction);
      await page.waitForTimeout(100);
      maxImgs = Math.max(maxImgs, await page.locator("img").count());
    }
    const count = await page.getByTestId("gallery-count").textContent();
    expect(count).toMatch(/^5,000 images$/);
    expect(maxImgs).toBeLessThanOrEqual(100);
    expect(maxImgs).toBeGreaterThan(10);
  });
});
