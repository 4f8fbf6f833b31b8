import { expect, test, type Page } from "@playwright/test";
import { crc32 } from "node:zlib";
import { chooseProvider, closeGate, shot } from "./helpers";

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

/** A 1×1 PNG with one tEXt chunk: Atelier's own `atelier` chunk, written by anyone. */
function pngWithText(keyword: string, text: string): Buffer {
  const base = Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC",
    "base64",
  );
  const data = Buffer.concat([Buffer.from(keyword, "latin1"), Buffer.from([0]), Buffer.from(text, "latin1")]);
  const type = Buffer.from("tEXt", "latin1");
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, data])));
  const iend = base.length - 12; // the IEND chunk closes the file: the text goes before it
  return Buffer.concat([base.subarray(0, iend), length, type, data, crc, base.subarray(iend)]);
}

test("an imported file whose metadata holds nonsense opens, and the viewer says what was ignored", async ({ page, request }) => {
  const prompt = `hand-written chunk ${Date.now()}`;
  const chunk = JSON.stringify({ atelier_version: "0.1.0", request: { prompt }, seed: 10 ** 30, job_id: {}, created_at: null, width: "wide" });
  const r = await request.post("/api/images/import", {
    multipart: { file: { name: "odd.png", mimeType: "image/png", buffer: pngWithText("atelier", chunk) } },
  });
  expect(r.status()).toBe(201);

  await page.goto("/#/gallery");
  await page.getByPlaceholder(/Search prompts/).fill(prompt);
  await page.getByRole("button", { name: `Open: ${prompt}` }).click();
  const viewer = page.getByRole("dialog", { name: "Image viewer" });
  await expect(viewer.getByTestId("lightbox-prompt")).toHaveText(prompt);
  const note = viewer.getByTestId("lightbox-ignored");
  await expect(note).toContainText("could not be used");
  await note.locator("summary").click();
  await expect(note).toContainText("seed");
  await shot(page, "lightbox-ignored-metadata");
});
