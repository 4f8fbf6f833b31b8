// Accounts in the browser (issue 13), against a real server with accounts on: an admin (ada)
// and two members (bob, carol) made through the CLI by start_server.py --accounts.
import { expect, request as httpClient, test, type Browser, type Page } from "@playwright/test";
import { ACCOUNTS_URL, STUDIO_URL } from "./env";
import { chooseProvider, shot } from "./helpers";

const PHONE = { width: 390, height: 844 };
const run = Date.now().toString(36);

async function signedIn(browser: Browser, name: string, viewport = { width: 1440, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ baseURL: ACCOUNTS_URL, viewport, colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto("/");
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(`${name}-e2e-password`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("user-name")).toHaveText(name);
  return page;
}

async function generate(page: Page, prompt: string) {
  await page.goto("/#/");
  await chooseProvider(page, "instant (tests)");
  await page.getByLabel("Images", { exact: true }).fill("1");
  await page.getByLabel("Prompt", { exact: true }).fill(prompt);
  await page.getByRole("button", { name: "Generate" }).click();
  await expect(page.locator("article", { hasText: prompt })).toHaveAttribute("data-status", "succeeded");
}

const tile = (page: Page, prompt: string) => page.locator("[data-image-id]", { has: page.getByRole("button", { name: `Open: ${prompt}` }) });

async function gallery(page: Page) {
  await page.goto("/#/gallery");
  await expect(page.getByTestId("gallery-count")).not.toHaveText("Loading…");
}

async function noSidewaysScroll(page: Page) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
}

test("the studio without accounts is unchanged; the first-run page is only offered, never forced", async ({ page }) => {
  await page.goto(`${STUDIO_URL}/`);
  await expect(page.getByLabel("Prompt", { exact: true })).toBeVisible();
  await expect(page.getByTestId("user-menu")).toHaveCount(0);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link")).toHaveText(["studio", "gallery", "tools", "providers", "connect"]);
  await page.goto(`${STUDIO_URL}/#/connect`);
  await page.getByRole("link", { name: "Create its first admin" }).click();
  await expect(page.getByRole("heading", { name: "Create the admin" })).toBeVisible();
  await shot(page, "accounts-setup");
  // not submitted: this server stays a studio without accounts for the other tests
  await page.getByRole("link", { name: /Not now/ }).click();
  await expect(page.getByLabel("Prompt", { exact: true })).toBeVisible();
});

test("sign-in: a wrong password is refused, the right one opens the studio; signing out ends it", async ({ browser }) => {
  const context = await browser.newContext({ baseURL: ACCOUNTS_URL, colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expect(page.getByLabel("Prompt", { exact: true })).toHaveCount(0);
  await page.getByLabel("User name").fill("bob");
  await page.getByLabel("Password").fill("not-his-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toHaveText("Wrong user name or password.");
  await shot(page, "accounts-sign-in");
  await page.getByLabel("Password").fill("bob-e2e-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("user-menu")).toContainText("bobmember");
  // a member: keys, no admin page
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "keys" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "admin" })).toHaveCount(0);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  // the old session is over on the server too
  expect((await page.request.get("/api/me")).status()).toBe(401);
  await context.close();
});

test("two people: each sees only their own images; a shared board appears to both; the admin sees who made what", async ({ browser }) => {
  const bob = await signedIn(browser, "bob");
  const carol = await signedIn(browser, "carol");
  const bobPrompt = `bob's lighthouse ${run}`;
  const carolPrompt = `carol's orchard ${run}`;
  await generate(bob, bobPrompt);
  await generate(carol, carolPrompt);

  await gallery(bob);
  await gallery(carol);
  await expect(tile(bob, bobPrompt)).toBeVisible();
  await expect(tile(carol, carolPrompt)).toBeVisible();
  await expect(tile(bob, carolPrompt)).toHaveCount(0);
  await expect(tile(carol, bobPrompt)).toHaveCount(0);

  // bob makes a shared board and puts his image in it, from the grid's selection
  const board = `Class trip ${run}`;
  await bob.getByLabel("New board name").fill(board);
  await bob.getByRole("checkbox", { name: "Shared" }).check();
  await bob.getByRole("button", { name: "Create", exact: true }).click();
  await expect(bob.locator(`[data-board-name="${board}"]`)).toBeVisible();
  await tile(bob, bobPrompt).getByRole("checkbox").check();
  await bob.getByRole("combobox", { name: "Add to board" }).selectOption({ label: board });
  await expect(bob.getByText(`Image added to “${board}”.`)).toBeVisible();
  await expect(bob.locator(`[data-board-name="${board}"]`)).toContainText("1");
  await bob.locator(`[data-board-name="${board}"]`).click();
  await expect(tile(bob, bobPrompt)).toBeVisible();
  await shot(bob, "accounts-gallery-boards");

  // carol sees the board (bob's name on it), read-only, with bob's image in it
  await carol.reload();
  const shared = carol.locator(`[data-board-name="${board}"]`);
  await expect(shared).toContainText("bob");
  await shared.click();
  await expect(tile(carol, bobPrompt)).toBeVisible();
  await expect(tile(carol, carolPrompt)).toHaveCount(0);
  await expect(carol.getByRole("group", { name: `Board ${board}` })).toContainText("read-only");

  // carol adds her own image to a private board of hers, from the lightbox
  const mine = `Mine ${run}`;
  await carol.getByRole("button", { name: "All images" }).click();
  await carol.getByLabel("New board name").fill(mine);
  await carol.getByRole("button", { name: "Create", exact: true }).click();
  await expect(carol.locator(`[data-board-name="${mine}"]`)).toBeVisible();
  await tile(carol, carolPrompt).getByRole("button", { name: `Open: ${carolPrompt}` }).click();
  const viewer = carol.getByRole("dialog", { name: "Image viewer" });
  await expect(viewer.getByRole("combobox", { name: "Add to board" }).locator("option")).toHaveText(["Add to board…", mine]); // not bob's board
  await viewer.getByRole("combobox", { name: "Add to board" }).selectOption({ label: mine });
  await expect(carol.getByText(`Image added to “${mine}”.`)).toBeVisible();
  await viewer.getByRole("button", { name: "Close viewer" }).click();
  await expect(carol.locator(`[data-board-name="${mine}"]`)).toContainText("1");
  // bob does not see carol's private board
  await bob.reload();
  await expect(bob.locator(`[data-board-name="${board}"]`)).toBeVisible();
  await expect(bob.locator(`[data-board-name="${mine}"]`)).toHaveCount(0);

  // the admin sees both images, each with its owner
  const ada = await signedIn(browser, "ada");
  await gallery(ada);
  await expect(tile(ada, bobPrompt).getByTestId("image-owner")).toHaveText("bob");
  await expect(tile(ada, carolPrompt).getByTestId("image-owner")).toHaveText("carol");
  await shot(ada, "accounts-gallery-admin");
  await tile(ada, bobPrompt).getByRole("button", { name: `Open: ${bobPrompt}` }).click();
  await expect(ada.getByRole("dialog", { name: "Image viewer" })).toContainText("Ownerbob");
  for (const page of [bob, carol, ada]) await page.context().close();
});

test("a key made on the keys page works for a real HTTP client, until it is revoked", async ({ browser }) => {
  const bob = await signedIn(browser, "bob");
  await bob.goto("/#/keys");
  await bob.getByLabel("Name").fill(`script ${run}`);
  await bob.getByRole("button", { name: "Create key" }).click();
  const secret = (await bob.getByTestId("key-secret").textContent())!;
  expect(secret).toMatch(/^atl_/);
  await shot(bob, "accounts-keys");

  const client = await httpClient.newContext({ baseURL: ACCOUNTS_URL }); // no cookie: only the key
  const prompt = `made by a script ${run}`;
  const body = { prompt, provider: "instant", n: 1 };
  expect((await client.post("/api/jobs", { data: body })).status()).toBe(401);
  const auth = { Authorization: `Bearer ${secret}` };
  const submitted = await client.post("/api/jobs", { data: body, headers: auth });
  expect(submitted.status()).toBe(202);
  const jobId = (await submitted.json()).job.id as string;
  await expect
    .poll(async () => (await (await client.get(`/api/jobs/${jobId}`, { headers: auth })).json()).job.status, { timeout: 30_000 })
    .toBe("succeeded");

  // the image is bob's; the key shows its last use
  await gallery(bob);
  await expect(tile(bob, prompt)).toBeVisible();
  await bob.goto("/#/keys");
  const row = bob.getByTestId("key-row").filter({ hasText: `script ${run}` });
  await expect(row.getByTestId("key-last-used")).not.toHaveText("never");

  await row.getByRole("button", { name: "Revoke" }).click();
  await row.getByRole("button", { name: /Revoke “.*” now/ }).click();
  await expect(row).toHaveCount(0);
  expect((await client.post("/api/jobs", { data: body, headers: auth })).status()).toBe(401);
  await client.dispose();
  await bob.context().close();
});

test("admin page: users and usage by user and key; members have no admin page", async ({ browser }) => {
  const ada = await signedIn(browser, "ada");
  await ada.goto("/#/admin");
  for (const name of ["ada", "bob", "carol"]) await expect(ada.locator(`[data-testid=user-row][data-user=${name}]`)).toBeVisible();
  await expect(ada.getByTestId("usage-by-user")).toContainText("bob");
  await shot(ada, "accounts-admin");
  const bob = await signedIn(browser, "bob");
  expect((await bob.request.get("/api/users")).status()).toBe(403);
  for (const page of [ada, bob]) await page.context().close();
});

test("the accounts pages at phone width", async ({ browser }) => {
  const context = await browser.newContext({ baseURL: ACCOUNTS_URL, viewport: PHONE, colorScheme: "dark" });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await noSidewaysScroll(page);
  await shot(page, "accounts-sign-in-phone");
  await context.close();
  const ada = await signedIn(browser, "ada", PHONE);
  for (const [route, name] of [
    ["keys", "accounts-keys-phone"],
    ["admin", "accounts-admin-phone"],
    ["gallery", "accounts-gallery-phone"],
  ] as const) {
    await ada.goto(`/#/${route}`);
    if (route === "gallery") {
      // the boards' form works at this width too
      await ada.getByLabel("New board name").fill(`Phone ${run}`);
      await ada.getByRole("button", { name: "Create", exact: true }).click();
      await expect(ada.locator(`[data-board-name="Phone ${run}"]`)).toBeVisible();
      await expect(ada.getByTestId("board").first()).toBeInViewport(); // a row of chips beside "All images"
    } else await expect(ada.getByRole("heading", { level: 1 })).toBeVisible();
    await noSidewaysScroll(ada);
    await shot(ada, name);
  }
  await ada.context().close();
});

test("a user disabled while signed in is sent to the sign-in page at their next request", async ({ browser }) => {
  const carol = await signedIn(browser, "carol");
  await gallery(carol);
  const ada = await signedIn(browser, "ada");
  await ada.goto("/#/admin");
  const access = ada.locator("[data-testid=user-row][data-user=carol]").getByRole("checkbox", { name: "Disabled" });
  await access.check();
  try {
    await expect(access).toBeChecked();
    await carol.goto("/#/keys"); // the page asks for her keys: refused, so she is asked to sign in
    await expect(carol.getByRole("heading", { name: "Sign in" })).toBeVisible();
    await carol.getByLabel("User name").fill("carol");
    await carol.getByLabel("Password").fill("carol-e2e-password");
    await carol.getByRole("button", { name: "Sign in" }).click();
    await expect(carol.getByRole("alert")).toBeVisible(); // a disabled user cannot sign in again
    await expect(carol.getByTestId("user-menu")).toHaveCount(0);
  } finally {
    await access.uncheck(); // the other tests sign carol in
    await expect(access).not.toBeChecked();
  }
  for (const page of [carol, ada]) await page.context().close();
});
