import { expect, test, type Page } from "@playwright/test";
import { chooseProvider, closeGate, openGate, shot } from "./helpers";

// Queue control: pause the queue, queue jobs, reorder them (drag, and the keyboard's move
// buttons), resume, and see them run in the new order; each job card shows its place live.

const PROMPTS = ["queue one", "queue two", "queue three"];

async function panelOrder(page: Page): Promise<string[]> {
  const titles = await page.getByRole("list", { name: "Queued jobs, next to run first" }).locator("li span[title]").allTextContents();
  return titles.filter((t) => PROMPTS.includes(t));
}

test("pause the queue, reorder it, resume: the jobs run in the new order", async ({ page }) => {
  closeGate();
  const submitted: string[] = [];
  page.on("response", async (r) => {
    if (r.request().method() === "POST" && r.url().endsWith("/api/jobs") && r.status() === 202) submitted.push((await r.json()).job.id);
  });
  try {
    await page.goto("/");
    const panel = page.getByRole("region", { name: "Queue" });
    await expect(panel).toBeVisible();
    await panel.getByRole("button", { name: "Pause queue" }).click();
    await expect(panel.getByRole("status")).toHaveText("Paused");
    await expect(panel.getByRole("button", { name: "Resume queue" })).toBeVisible();

    await chooseProvider(page, "gated (tests)");
    for (const [i, prompt] of PROMPTS.entries()) {
      await page.getByLabel("Prompt", { exact: true }).fill(prompt);
      await page.getByRole("button", { name: "Generate" }).click();
      await expect(page.locator("article[data-job-id]")).toHaveCount(i + 1);
    }
    const card = (prompt: string) => page.getByRole("article", { name: `Job: ${prompt}` });
    await expect.poll(() => panelOrder(page)).toEqual(["queue one", "queue two", "queue three"]);
    await expect(card("queue three").getByTestId("job-status")).toHaveText("Queued · #3 in queue");

    // drag the third onto the first: it takes the first place
    const item = (prompt: string) => panel.locator("li", { hasText: prompt });
    await item("queue three").dragTo(item("queue one"));
    await expect.poll(() => panelOrder(page)).toEqual(["queue three", "queue one", "queue two"]);
    await expect(card("queue three").getByTestId("job-status")).toHaveText("Queued · #1 in queue");

    // the keyboard: move "three" down one, then "two" runs next
    await panel.getByRole("button", { name: "Move down: queue three" }).focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => panelOrder(page)).toEqual(["queue one", "queue three", "queue two"]);
    await panel.getByRole("button", { name: "Run next: queue two" }).click();
    await expect.poll(() => panelOrder(page)).toEqual(["queue two", "queue one", "queue three"]);
    await expect(card("queue two").getByTestId("job-status")).toHaveText("Queued · #1 in queue");
    await expect(card("queue three").getByTestId("job-status")).toHaveText("Queued · #3 in queue");
    // the server holds the same order
    const queue = await (await page.request.get("/api/queue")).json();
    expect(queue.paused).toBe(true);
    expect(queue.items.map((i: { request: { prompt: string } }) => i.request.prompt)).toEqual(["queue two", "queue one", "queue three"]);
    await shot(page, "queue-paused-reordered");

    // resume: the new first runs (the gated provider runs one at a time), the rest wait in order
    await panel.getByRole("button", { name: "Resume queue" }).click();
    await expect(panel.getByRole("status")).toHaveCount(0);
    await expect(card("queue two")).toHaveAttribute("data-status", "running");
    await expect.poll(() => panelOrder(page)).toEqual(["queue one", "queue three"]);
    await expect(card("queue three").getByTestId("job-status")).toHaveText("Queued · #2 in queue");
    await shot(page, "queue-resumed");

    openGate();
    for (const prompt of PROMPTS) await expect(card(prompt)).toHaveAttribute("data-status", "succeeded", { timeout: 30_000 });
    await expect(panel.getByText("empty")).toBeVisible();
    // one at a time, in the new order: each started after the one before it ended
    const jobs = await Promise.all(submitted.map(async (id) => (await (await page.request.get(`/api/jobs/${id}`)).json()).job));
    const byPrompt = Object.fromEntries(jobs.map((j) => [j.request.prompt, j]));
    const ran = ["queue two", "queue one", "queue three"].map((p) => byPrompt[p]);
    expect(ran[0].finished_at <= ran[1].started_at).toBe(true);
    expect(ran[1].finished_at <= ran[2].started_at).toBe(true);
  } finally {
    await page.request.post("/api/queue/resume");
    for (const id of submitted) await page.request.post(`/api/jobs/${id}/cancel`);
    closeGate();
  }
});

test("cancel all queued asks once more, then empties the queue", async ({ page }) => {
  const submitted: string[] = [];
  try {
    await page.goto("/");
    const panel = page.getByRole("region", { name: "Queue" });
    await panel.getByRole("button", { name: "Pause queue" }).click();
    await expect(panel.getByRole("status")).toHaveText("Paused");
    for (const prompt of ["cancel me 1", "cancel me 2"]) {
      const r = await page.request.post("/api/jobs", { data: { prompt, provider: "instant", priority: "low" } });
      submitted.push((await r.json()).job.id);
    }
    await expect(panel.locator("li")).toHaveCount(2);
    await expect(panel.locator("li").first()).toContainText("low");
    await panel.getByRole("button", { name: "Cancel all queued" }).click();
    await panel.getByRole("button", { name: "Really cancel 2?" }).click();
    await expect(panel.getByText("empty")).toBeVisible();
    await expect(page.getByRole("status").filter({ hasText: "Cancelled 2 queued jobs" })).toBeVisible();
    for (const id of submitted) expect((await (await page.request.get(`/api/jobs/${id}`)).json()).job.status).toBe("cancelled");
  } finally {
    await page.request.post("/api/queue/resume");
  }
});
