import { expect, test } from "@playwright/test";
import { closeGate, openGate, shot } from "./helpers";

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

test("a job sent by an OpenAI client shows in the studio live, tagged with its client", async ({ page, request }) => {
  closeGate();
  try {
    await page.goto("/");
    // the tab watches the queue feed (the server confirmed it) before the client sends
    await expect(page.locator("html")).toHaveAttribute("data-client-jobs", "watching");
    const prompt = `from a chat front-end ${Date.now()}`;
    // the call waits for its job (the gated provider holds it until the gate opens)
    const answer = request.post("/v1/images/generations", { data: { model: "gated/test", prompt, response_format: "b64_json" } });
    const card = page.locator("article", { hasText: prompt });
    await expect(card.getByTestId("job-client")).toHaveText("via openai");
    await shot(page, "client-job-live");
    openGate();
    const r = await answer;
    expect(r.status()).toBe(200);
    expect((await r.json()).data).toHaveLength(1);
    await expect(card.getByRole("img").first()).toBeVisible();
  } finally {
    openGate(); // a failure here must not leave later tests' gated jobs waiting
  }
});
