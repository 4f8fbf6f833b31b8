import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { GATE, SCREENSHOTS } from "./env";

export const openGate = () => writeFileSync(GATE, "");
export const closeGate = () => existsSync(GATE) && rmSync(GATE);

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png` });
}

/** Pick a provider/model in the composer by its visible label. */
export async function chooseProvider(page: Page, label: string) {
  await page.getByLabel("Provider", { exact: true }).selectOption({ label });
}

export async function submitViaApi(request: APIRequestContext, body: Record<string, unknown>) {
  const r = await request.post("/api/jobs", { data: body });
  expect(r.status()).toBe(202);
  return (await r.json()).job as { id: string };
}

export async function waitJob(request: APIRequestContext, id: string, status = "succeeded") {
  await expect
    .poll(async () => (await (await request.get(`/api/jobs/${id}`)).json()).job.status, { timeout: 30_000 })
    .toBe(status);
}

/** Skip unless the server has the endpoint (issue 4: gallery at scale). */
