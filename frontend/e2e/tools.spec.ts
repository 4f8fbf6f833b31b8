// The studio tools against the real server: the mask brush, the social export (local,
// offline) and the template flow. Provider-backed edits need a cloud key; the e2e server
// has none, so the edit page says so with the reason and offers no run that must fail.
import { expect, type APIRequestContext, test } from "@playwright/test";
import { shot, submitViaApi, waitJob } from "./helpers";

async function sourceImage(request: APIRequestContext) {
  const job = await submitViaApi(request, { prompt: "a lake under mountains", provider: "offline", model: "procedural-draft", aspect_ratio: "16:9", seed: 42 });
  await waitJob(request, job.id);
  const done = (await (await request.get(`/api/jobs/${job.id}`)).json()).job;
  return done.images[0] as { id: string; width: number; height: number };
}

test("the mask brush paints, erases and undoes at the image's own size", async ({ page, request }) => {
  const image = await sourceImage(request);
  await page.goto(`/#/tools?tool=edit&image=${image.id}`);
  await page.getByLabel("Operation").selectOption("inpaint");
  const canvas = page.getByTestId("mask-canvas");
  await expect(canvas).toBeVisible();
  expect(await canvas.evaluate((c: HTMLCanvasElement) => [c.width, c.height])).toEqual([image.width, image.height]);
  const painted = () =>
    canvas.evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if ((d[i] ?? 0) > 0) n++;
      return n;
    });
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5, { steps: 8 });
  await page.mouse.up();
  const afterStroke = await painted();
  expect(afterStroke).toBeGreaterThan(1000);
  await expect(page.getByTestId("mask-state")).toContainText("1 strokes");

  await page.getByLabel("Brush size").fill("64");
  await page.getByRole("button", { name: "Eraser" }).click();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.up();
  expect(await painted()).toBeLessThan(afterStroke);
  await page.getByRole("button", { name: "Undo" }).click();
  expect(await painted()).toBe(afterStroke);
  await page.getByRole("button", { name: "Eraser" }).click();
  await page.getByLabel("Edit prompt").fill("a red boat");
  await shot(page, "tools-mask");

  // no cloud key in the e2e server: the page says why, and the run that must fail is not offered
  await expect(page.getByTestId("edit-unavailable")).toContainText("No provider that can inpaint is set up here");
  await expect(page.getByTestId("edit-unavailable")).toContainText("API_KEY");
  await expect(page.getByRole("button", { name: "Run inpaint" })).toBeDisabled();
});

test("social export: previews with safe zones, focal click, several platforms, one ZIP", async ({ page, request }) => {
  const image = await sourceImage(request);
  await page.goto(`/#/tools?tool=social&image=${image.id}`);
  await page.getByLabel(/Pinterest.*|Pin 2:3.*/).first().check();
  const previews = page.getByTestId("social-previews").locator("img");
  await expect(previews).toHaveCount(3);
  for (const img of await previews.all()) {
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
  }
  const picker = page.getByTestId("focal-picker");
  const box = (await picker.boundingBox())!;
  await picker.click({ position: { x: box.width * 0.8, y: box.height * 0.4 } });
  await expect(page.getByTestId("focal")).toContainText("focal 0.8");
  await expect(page.getByLabel("Crop mode")).toHaveValue("focal");
  await page.getByRole("button", { name: /Export 3 formats/ }).click();
  await expect(page.getByTestId("tool-job-status")).toHaveText("succeeded");
  const after = page.getByRole("img", { name: /^After / });
  await expect(after).toHaveCount(3);
  await expect(page.getByRole("img", { name: "After 1080x1080" })).toBeVisible();
  await expect(page.getByRole("img", { name: "After 1280x720" })).toBeVisible();
  await expect(page.getByRole("img", { name: "After 1000x1500" })).toBeVisible();
  const zip = page.getByRole("link", { name: "Download ZIP" });
  const href = await zip.getAttribute("href");
  const r = await request.get(href!);
  expect(r.status()).toBe(200);
  expect(r.headers()["content-type"]).toBe("application/zip");
  await shot(page, "tools-social");
  // the tool job is one of this tab's jobs: its card in the studio, its images in the session strip
  await page.getByRole("link", { name: "Studio" }).click();
  await expect(page.locator('article[data-job-id][data-status="succeeded"]')).toHaveCount(1);
  await expect(page.getByTestId("session-count")).toHaveText("3");
});

test("an upscale is followed live on its job card, which dismisses like any other", async ({ page, request }) => {
  const image = await sourceImage(request);
  await page.goto(`/#/tools?tool=upscale&image=${image.id}`);
  await page.getByRole("button", { name: "Upscale", exact: true }).click();
  const card = page.getByTestId("tool-job").locator("article[data-job-id]");
  await expect(card).toHaveAttribute("data-status", "succeeded");
  await expect(page.getByRole("img", { name: `After ${image.width * 2}x${image.height * 2}` })).toBeVisible();
  await shot(page, "tools-upscale");
  await card.getByRole("button", { name: "Dismiss" }).click();
  await expect(page.getByTestId("tool-job")).toHaveCount(0);
});

test("a template fills the composer; the spend tab shows this month per provider", async ({ page }) => {
  await page.goto("/#/tools?tool=templates");
  await page.getByLabel("Search templates").fill("wallpaper");
  await expect(page.getByRole("button", { name: /^Use / })).toHaveCount(1);
  await shot(page, "tools-templates");
  await page.getByRole("button", { name: "Use Landscape wallpaper" }).click();
  await expect(page).toHaveURL(/#\/$/);
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue(/^\{subject\}, wide landscape/);
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("offline");
  await page.goto("/#/tools?tool=spend");
  await expect(page.getByRole("region", { name: "Spend this month" })).toContainText("offline");
  await shot(page, "tools-spend");
});
