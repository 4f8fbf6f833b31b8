import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { shot } from "./helpers";

// real files made by other tools (tests/fixtures/interop, with the values their projects state)
const FIXTURES = new URL("../../tests/fixtures/interop/files/", import.meta.url).pathname;

test("an image from another studio shows what its tool recorded: tool, sampler, CFG, steps and the exact seed", async ({ page, request }) => {
  const name = "sd-parsers__fooocus1_cropped.png";
  const r = await request.post("/api/images/import", {
    multipart: { file: { name, mimeType: "image/png", buffer: readFileSync(FIXTURES + name) } },
  });
  expect(r.status()).toBe(201);

  await page.goto("/#/gallery");
  await page.getByPlaceholder(/Search prompts/).fill("smiling goldfish");
  await page.getByRole("button", { name: "Open: a smiling goldfish" }).first().click();
  const viewer = page.getByRole("dialog", { name: "Image viewer" });
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText("a smiling goldfish");
  const params = viewer.getByRole("complementary", { name: "Parameters" });
  // a JSON number would show 6952411511246973000: the seed is shown as the file wrote it
  const shown: [string, string][] = [
    ["Made with", "Fooocus"],
    ["Seed", "6952411511246973023"],
    ["Steps", "30"],
    ["Sampler", "dpmpp_2m_sde_gpu"],
    ["CFG scale", "4"],
    ["Model", "juggernautXL_v8Rundiffusion"],
  ];
  for (const [label, value] of shown) {
    await expect(params.locator("dt", { hasText: new RegExp(`^${label}$`) }).locator("+ dd")).toHaveText(value);
  }
});

test("a ComfyUI image imported through the studio opens with its graph's values", async ({ page, request }) => {
  const name = "sd-metadata__comfyui.png";
  const r = await request.post("/api/images/import", {
    multipart: { file: { name, mimeType: "image/png", buffer: readFileSync(FIXTURES + name) } },
  });
  expect(r.status()).toBe(201);
  await page.goto("/#/gallery");
  await page.getByPlaceholder(/Search prompts/).fill("hatsune miku");
  await page.getByRole("button", { name: /^Open: general, masterpiece/ }).first().click();
  const params = page.getByRole("dialog", { name: "Image viewer" }).getByRole("complementary", { name: "Parameters" });
  await expect(params.locator("dt", { hasText: /^Made with$/ }).locator("+ dd")).toHaveText("ComfyUI");
  await expect(params.locator("dt", { hasText: /^Sampler$/ }).locator("+ dd")).toHaveText("euler_ancestral");
  await expect(params.locator("dt", { hasText: /^Seed$/ }).locator("+ dd")).toHaveText("422847914351919");
  await shot(page, "lightbox-comfyui-import");
});
