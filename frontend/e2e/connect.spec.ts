import { expect, test } from "@playwright/test";
import { shot } from "./helpers";

test("connect a client: the page shows this studio's base URLs and ready-to-paste settings", async ({ page, baseURL }) => {
  await page.goto("/#/connect");
  await expect(page.getByRole("heading", { name: "Connect a client" })).toBeVisible();
  const origin = new URL(baseURL!).origin;
  await expect(page.getByTestId("openai-base-url")).toHaveText(`${origin}/v1`);
  await expect(page.getByTestId("a1111-base-url")).toHaveText(origin);
  const sdk = page.getByRole("region", { name: "openai SDK" });
  await expect(sdk).toContainText(`OpenAI(base_url="${origin}/v1"`);
  for (const name of ["Open WebUI", "SillyTavern", "LibreChat"]) await expect(page.getByRole("region", { name })).toBeVisible();
  await shot(page, "connect");
});
