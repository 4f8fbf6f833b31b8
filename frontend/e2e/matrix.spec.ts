import { expect, test } from "@playwright/test";
import { closeGate, openGate, shot } from "./helpers";

test.beforeEach(() => closeGate());

test("a 2x3 matrix across two providers fills in live, then its grid image is in the gallery", async ({ page }) => {
  await page.goto("/");
  await page.getByLabel("Prompt", { exact: true }).fill("a paper boat on a pond");
  const builder = page.getByRole("region", { name: "Matrix", exact: true });

  // columns: two test providers; rows: three seeds
  await builder.getByRole("button", { name: "Add an axis" }).click();
  await expect(builder.getByLabel("Axis 1 field")).toHaveValue("provider");
  await builder.getByRole("button", { name: "instant (tests)" }).click();
  await builder.getByRole("button", { name: "gated (tests)" }).click();
  await builder.getByRole("button", { name: "Add an axis" }).click();
  await builder.getByLabel("Axis 2 field").selectOption("seed");
  await builder.getByLabel("Axis 2 values").fill("1, 2, 3");
  await expect(builder.getByTestId("matrix-summary")).toHaveText("6 cells · 6 without a price");
  await shot(page, "matrix-builder");
  await builder.getByRole("button", { name: "Run matrix" }).click();

  // the instant column fills in while the gated one is held
  const grid = page.getByRole("region", { name: "Matrix grid" });
  await expect(grid).toBeVisible();
  for (const row of [0, 1, 2]) {
    await expect(grid.locator(`[data-cell="0-${row}"]`)).toHaveAttribute("data-status", "succeeded");
    await expect(grid.locator(`[data-cell="0-${row}"] img`)).toBeVisible();
    await expect(grid.locator(`[data-cell="1-${row}"]`)).toHaveAttribute("data-status", /queued|running/);
  }
  await expect(grid.getByRole("heading")).toContainText("3 of 6 done");
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "matrix-filling");

  openGate();
  for (const row of [0, 1, 2]) await expect(grid.locator(`[data-cell="1-${row}"] img`)).toBeVisible();
  await expect(grid).toHaveAttribute("data-status", "done");
  await expect(grid.getByRole("button", { name: "Grid image" })).toBeVisible();

  // a cell's image and settings, and "use these settings"
  // the matrix is still on screen after a reload (the server keeps it)
  await page.reload();
  await expect(grid).toHaveAttribute("data-status", "done");
  await expect(grid.locator('[data-cell="1-2"] img')).toBeVisible();
  await grid.locator('[data-cell="1-2"]').click();
  const details = grid.getByLabel("Matrix cell");
  await expect(details).toContainText("Provider: gated · Seed: 3");
  // the base's 8 steps were adjusted for the test model, and the cell says so
  await expect(details).toContainText("provider=gated, seed=3: gated test model takes 1-4 steps; using 4");
  await expect(details.getByText("gated", { exact: true })).toBeVisible();
  await expect(details.getByText("3", { exact: true })).toBeVisible(); // its seed
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, "matrix-done");
  await details.getByRole("button", { name: "Use these settings" }).click();
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("gated");
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveValue("a paper boat on a pond");

  // the grid image is in the gallery, as big as six labelled tiles
  await page.goto("/#/gallery");
  const thumb = page.getByRole("img", { name: "matrix: a paper boat on a pond" });
  await expect(thumb).toBeVisible();
  await thumb.click();
  await expect(page.getByRole("dialog")).toBeVisible();
  await shot(page, "matrix-grid-image");
});
