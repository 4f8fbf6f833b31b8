import { expect, test, type Page } from "@playwright/test";
import { chooseProvider, closeGate } from "./helpers";

// A prompt that runs code if any view renders it as HTML instead of text.
const HOSTILE = `<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script><b>bold</b> & "quotes"`;

test.beforeEach(() => closeGate());

async function notPwned(page: Page) {
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  await expect(page.locator("b", { hasText: "bold" })).toHaveCount(0);
}

test("markup and script in a prompt show as text in studio, gallery and lightbox", async ({ page }) => {
  await page.goto("/");
  await chooseProvider(page, "instant (tests)");
  await page.getByLabel("Prompt", { exact: true }).fill(HOSTILE);
  await page.getByRole("button", { name: "Generate" }).click();
  const card = page.locator("article[data-job-id]").first();
  await expect(card).toHaveAttribute("data-status", "succeeded");
  await expect(card).toContainText(HOSTILE);
  await expect(card.getByTestId("job-image")).toBeVisible();
  await notPwned(page);

  await page.goto("/#/gallery");
  const tile = page.locator("[data-image-id]").first().getByRole("button").first();
  await expect(tile).toHaveAttribute("aria-label", `Open: ${HOSTILE}`);
  await notPwned(page);

  await tile.click();
  const viewer = page.getByRole("dialog", { name: "Image viewer" });
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText(HOSTILE);
  await notPwned(page);
});
