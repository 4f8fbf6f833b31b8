import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { BIG_URL } from "./env";
import { shot } from "./helpers";

// A selection far past what fits in a URL (430+ ids gave 414 and an error) exports by POST.
test.use({ baseURL: BIG_URL });

/** The entry count in a ZIP's end-of-central-directory record (archives under 65,535 entries). */
function zipEntries(zip: Buffer): number {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(end).toBeGreaterThan(0);
  return zip.readUInt16LE(end + 10);
}

test("a selection of 800 images exports as one ZIP, in the order picked", async ({ page }) => {
  await page.goto("/#/gallery");
  const tiles = page.locator("[data-image-id]");
  await expect(tiles.first()).toBeVisible();
  const firstId = await tiles.nth(2).getAttribute("data-image-id");
  await tiles.nth(2).getByRole("checkbox").check();
  await expect(page.getByText("1 selected")).toBeVisible();
  // load four pages of 200, then take every loaded image into the selection
  const scroller = page.getByTestId("gallery-scroll");
  const selectAll = page.getByRole("button", { name: /^Select all [\d,]+ loaded$/ });
  for (let i = 0; i < 100; i++) {
    const label = (await selectAll.textContent()) ?? "";
    if (Number(label.replace(/\D/g, "")) >= 800) break;
    await scroller.evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForTimeout(100);
  }
  await selectAll.click();
  // pages may still arrive while it clicks: the selection is what was loaded at the click
  const selectedCount = page.getByText(/^[\d,]+ selected$/);
  await expect(selectedCount).not.toHaveText("1 selected");
  const loaded = Number(((await selectedCount.textContent()) ?? "").replace(/\D/g, ""));
  expect(loaded).toBeGreaterThanOrEqual(800);

  const posted = page.waitForRequest((r) => r.url().endsWith("/api/export.zip") && r.method() === "POST");
  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export selected as ZIP" }).click();
  const ids = ((await posted).postDataJSON() as { ids: string[] }).ids;
  expect(ids.length).toBe(loaded);
  expect(ids[0]).toBe(firstId); // the one picked first comes first
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^atelier-\d{8}-\d{6}\.zip$/);
  const zip = readFileSync((await file.path())!);
  expect(zipEntries(zip)).toBe(loaded + 2); // every image, metadata.csv and metadata.json
  await expect(page.getByRole("alert")).toHaveCount(0);
  await shot(page, "export-selection");
});
