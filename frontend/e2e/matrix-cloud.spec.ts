import { expect, test } from "@playwright/test";
import { BIG_URL } from "./env";
import { shot } from "./helpers";

// This server also has the OpenAI provider, pointed at a local fake of OpenAI's Images API.
test.use({ baseURL: BIG_URL });

test("a 2x3 matrix across the offline provider and a cloud provider fills in, then its grid image is in the gallery", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Prompt", { exact: true }).fill("a lighthouse on a cliff in a storm");
  const builder = page.getByRole("region", { name: "Matrix", exact: true });
  await builder.getByRole("button", { name: "Add an axis" }).click();
  await expect(builder.getByLabel("Axis 1 field")).toHaveValue("provider");
  await builder.getByRole("button", { name: /^offline/ }).click();
  await builder.getByRole("button", { name: "OpenAI", exact: true }).click();
  await builder.getByRole("button", { name: "Add an axis" }).click();
  await builder.getByLabel("Axis 2 field").selectOption("style");
  for (const style of ["None", "Watercolor", "Anime"]) await builder.getByRole("button", { name: style, exact: true }).click();
  await expect(builder.getByTestId("matrix-summary")).toContainText("6 cells");
  await builder.getByRole("button", { name: "Run matrix" }).click();

  const grid = page.getByRole("region", { name: "Matrix grid" });
  for (const column of [0, 1])
    for (const row of [0, 1, 2]) await expect(grid.locator(`[data-cell="${column}-${row}"] img`)).toBeVisible({ timeout: 60_000 });
  await expect(grid).toHaveAttribute("data-status", "done", { timeout: 30_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "matrix-cloud-done");

  // the grid image is saved to the gallery, with every cell's image linked in its metadata
  const found = await (await page.request.get("/api/images", { params: { q: "lighthouse", provider: "matrix" } })).json();
  expect(found.items).toHaveLength(1);
  const detail = await (await page.request.get(`/api/images/${found.items[0].id}`)).json();
  expect(JSON.stringify(detail.metadata)).toContain("openai");
  await grid.getByRole("button", { name: "Grid image" }).click();
  await expect(page.getByRole("dialog", { name: "Image viewer" }).getByTestId("lightbox-image")).toBeVisible();
  await shot(page, "matrix-cloud-grid");
});
