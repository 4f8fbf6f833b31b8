import { expect, test } from "@playwright/test";
import { chooseProvider, shot } from "./helpers";

// Prompt enhancement (issue 15): "Enhance" beside the prompt box asks the server's text
// model (a local fake OpenAI-compatible server, started by e2e/start_server.py --enhancer)
// for a rewrite; the panel shows before and after; nothing changes until Accept; the job
// made after Accept records the original prompt beside the one used.

test("enhance a prompt, see before and after, keep mine, then accept and generate", async ({ page, request }) => {
  await page.goto("/");
  await chooseProvider(page, "instant (tests)");
  const prompt = page.getByLabel("Prompt", { exact: true });
  await prompt.fill("a lighthouse in a storm");

  await page.getByRole("button", { name: "Enhance" }).click();
  const panel = page.getByRole("region", { name: "Prompt enhancement" });
  await expect(panel.getByLabel("Before")).toHaveText("a lighthouse in a storm");
  await expect(panel.getByLabel("After")).toHaveText("a lighthouse in a storm, golden hour, 35mm film");
  await expect(prompt).toHaveValue("a lighthouse in a storm"); // nothing changed yet
  await shot(page, "prompt-enhance");

  await panel.getByRole("button", { name: "Keep mine" }).click();
  await expect(panel).toHaveCount(0);
  await expect(prompt).toHaveValue("a lighthouse in a storm");

  await page.getByRole("button", { name: "Enhance" }).click();
  await panel.getByRole("button", { name: "Accept" }).click();
  await expect(prompt).toHaveValue("a lighthouse in a storm, golden hour, 35mm film");
  await expect(page.getByText("Original kept with the images")).toBeVisible();
  await shot(page, "prompt-enhance-accepted");

  await page.getByRole("button", { name: "Generate" }).click();
  await expect
    .poll(async () => {
      const items = (await (await request.get("/api/jobs?limit=20")).json()).items as {
        status: string;
        request: { prompt: string; original_prompt?: string };
      }[];
      const job = items.find((j) => j.request.prompt === "a lighthouse in a storm, golden hour, 35mm film");
      return job ? `${job.status} ${job.request.original_prompt}` : "none";
    })
    .toBe("succeeded a lighthouse in a storm");
});
