import { expect, test } from "@playwright/test";
import { shot, submitViaApi, waitJob } from "./helpers";

// Prompt history and wildcards (issue 15): restore a prompt and its settings from the
// history panel, walk the history with the arrow keys, preview a wildcard template.

test("restore a prompt and its settings from the history, and walk it with the arrow keys", async ({ page, request }) => {
  const older = await submitViaApi(request, {
    prompt: "a copper kettle on a windowsill, morning light",
    provider: "instant",
    negative_prompt: "blur",
    aspect_ratio: "16:9",
    seed: 4242,
    steps: 3,
  });
  await waitJob(request, older.id);
  const newer = await submitViaApi(request, { prompt: "a paper boat in a gutter", provider: "instant", seed: 7 });
  await waitJob(request, newer.id);

  await page.goto("/");
  const prompt = page.getByLabel("Prompt", { exact: true });
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("offline");
  await page.getByText("Prompt history").click();
  const panel = page.getByRole("region", { name: "Prompt history" });
  await panel.getByLabel("Search prompt history").fill("COPPER kettle");
  const entry = panel.getByRole("button", { name: /^a copper kettle/ });
  await expect(entry).toHaveCount(1);
  await expect(panel.getByRole("button", { name: /^a paper boat/ })).toHaveCount(0);
  await entry.scrollIntoViewIfNeeded();
  await shot(page, "prompt-history");
  await entry.click();

  await expect(prompt).toHaveValue("a copper kettle on a windowsill, morning light");
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("instant");
  await expect(page.getByLabel("Negative prompt", { exact: true })).toHaveValue("blur");
  await expect(page.getByRole("radio", { name: /^16:9/ })).toHaveAttribute("aria-checked", "true");
  await expect(page.getByLabel("Seed", { exact: true })).toHaveValue("4242");
  await expect(page.getByLabel(/^Steps/)).toHaveValue("3");

  // arrow-up in an empty box walks back through the history, arrow-down forward again
  await prompt.fill("");
  await prompt.press("ArrowUp");
  await expect(prompt).toHaveValue("a paper boat in a gutter");
  await prompt.press("ArrowUp");
  await expect(prompt).toHaveValue("a copper kettle on a windowsill, morning light");
  await prompt.press("ArrowDown");
  await expect(prompt).toHaveValue("a paper boat in a gutter");
  await prompt.press("ArrowDown");
  await expect(prompt).toHaveValue("");
  // a prompt being written is left alone
  await prompt.fill("my own words");
  await prompt.press("ArrowUp");
  await expect(prompt).toHaveValue("my own words");

  // removing an entry takes it out of the history
  await panel.getByLabel("Search prompt history").fill("paper boat");
  await panel.getByRole("button", { name: /Remove “a paper boat/ }).click();
  await expect(panel.getByRole("button", { name: /^a paper boat/ })).toHaveCount(0);
});

test("the composer previews what a wildcard template resolves to, and names a bad one", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByLabel("Provider", { exact: true })).toHaveValue("offline");
  await page.getByLabel("Seed", { exact: true }).fill("11");
  await page.getByLabel("Images", { exact: true }).fill("3");
  const prompt = page.getByLabel("Prompt", { exact: true });
  await prompt.fill("a {tiny|huge} __colors__ boat");
  const preview = page.getByRole("region", { name: "Wildcard preview" });
  await expect(preview.getByRole("listitem")).toHaveCount(3);
  for (const line of await preview.getByRole("listitem").allTextContents())
    expect(line).toMatch(/^a (tiny|huge) (red|blue|green) boat$/);
  await expect(preview).toContainText("With seed 11");
  await shot(page, "wildcard-preview");
  await prompt.fill("a {tiny|huge boat __nowhere__");
  await expect(preview.getByRole("alert")).toContainText("unbalanced braces");
  await prompt.fill("a __nowhere__ boat");
  await expect(preview.getByRole("alert")).toContainText("unknown wildcard __nowhere__");
});
