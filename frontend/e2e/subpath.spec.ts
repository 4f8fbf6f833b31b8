import { expect, test } from "@playwright/test";
import { SUBPATH, SUBPATH_PORT } from "./env";
import { chooseProvider } from "./helpers";

// The studio behind a proxy at /studio (ATELIER_BASE_PATH): the same build loads its assets,
// calls the API, opens the socket and shows images under the sub-path, and nothing at the root.
test("the studio works under a sub-path", async ({ page }) => {
  const root = `http://127.0.0.1:${SUBPATH_PORT}`;
  const outside: string[] = [];
  page.on("request", (r) => {
    const url = new URL(r.url());
    if (url.protocol === "http:" && url.origin === root && !url.pathname.startsWith(SUBPATH + "/")) outside.push(url.pathname);
  });
  await page.goto(`${root}${SUBPATH}/`);
  // the instant test provider: this test is about paths, not about how long a render takes
  await chooseProvider(page, "instant (tests)");
  await page.getByLabel("Prompt", { exact: true }).fill("a harbour under the sub-path");
  await page.getByRole("button", { name: "Generate" }).click();
  const image = page.getByTestId("session-strip").locator("img").first();
  await expect(image).toBeVisible();
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(0);
  expect(await image.getAttribute("src")).toMatch(new RegExp(`^${SUBPATH}/`));
  await page.goto(`${root}${SUBPATH}/#/gallery`);
  await expect(page.locator("[data-image-id]").first()).toBeVisible();
  expect(outside).toEqual([]);
});
