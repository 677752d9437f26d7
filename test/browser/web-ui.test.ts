/**
 * The web UI in a real browser (Debian's chromium driven by playwright-core), against `sdapi serve` on a free loopback
 * port with a temp data dir: register → create an application and a token → the tutorial's seed client with it →
 * its thread (named after its prompt) in the playground → generate from the form with the price on the button →
 * reuse settings and same seed → a 422 with three bad fields shown at the fields → delete a result → the gallery →
 * rename and delete a thread → log out and in. One server and one browser for the file.
 * Screenshots go to test-output/screenshots/ (and to docs/ with SDAPI_DOCS_SCREENSHOTS=1), desktop and phone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { DESKTOP, launchBrowser, openPage, PHONE, ROOT, SKIP_BROWSER, startTestServer, type TestServer } from './browser-helpers.ts';

const SEED_CLIENT = resolve(ROOT, 'test/fixtures/seed_client.py');
const SHOTS = join(ROOT, 'test-output/screenshots');
const DOCS_SHOTS = process.env.SDAPI_DOCS_SCREENSHOTS === '1';

// Browser-side predicates, serialized into the page (self-contained; the casts stand in for DOM types).
type Img = { complete: boolean; naturalWidth: number; naturalHeight: number };
type Doc = { querySelectorAll(selector: string): Iterable<Img> & { length: number }; querySelector(selector: string): Img | null; cookie: string };
const imagesLoaded = () => [...(globalThis as unknown as { document: Doc }).document.querySelectorAll('main img')].every((img) => img.complete && img.naturalWidth > 0);
const viewerLoaded = () => {
  const img = (globalThis as unknown as { document: Doc }).document.querySelector('dialog.viewer img');
  return !!img && img.complete && img.naturalWidth > 0;
};
const viewerSize = () => {
  const img = (globalThis as unknown as { document: Doc }).document.querySelector('dialog.viewer img');
  return img ? [img.naturalWidth, img.naturalHeight] : [];
};
const countIs = ([selector, n]: [string, number]) => (globalThis as unknown as { document: Doc }).document.querySelectorAll(selector).length === n;
const pageCookie = () => (globalThis as unknown as { document: Doc }).document.cookie;

describe('web UI in chromium', { skip: SKIP_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  const email = `ui-${Date.now()}@example.com`;
  const password = 'a-long-password';
  let token = '';

  /** A full-page screenshot; at both sizes when `docsName` is given (docs/<name>.png and docs/<name>-phone.png). */
  async function shot(name: string, docsName?: string) {
    const file = join(SHOTS, `${name}.png`);
    await page.waitForFunction(imagesLoaded);
    await page.screenshot({ path: file, fullPage: true });
    if (DOCS_SHOTS && docsName) copyFileSync(file, join(ROOT, 'docs', `${docsName}.png`));
    if (!docsName) return;
    await page.setViewportSize(PHONE);
    await page.waitForFunction(imagesLoaded);
    const phone = join(SHOTS, `${name}-phone.png`);
    await page.screenshot({ path: phone, fullPage: true });
    if (DOCS_SHOTS) copyFileSync(phone, join(ROOT, 'docs', `${docsName}-phone.png`));
    await page.setViewportSize(DESKTOP);
  }

  const form = () => page.getByRole('form', { name: 'New request' });
  const results = () => page.getByRole('article', { name: /^Result: / });
  const generate = () => page.getByTestId('generate');

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // Each generation is held 1.5 s, so the live status is on screen long enough to assert.
    server = await startTestServer({ delayMs: 1500 });
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, errors));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('registers a new account from the login page', async () => {
    await page.goto(`${server.base}/`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await shot('01-login');
    await page.getByRole('link', { name: 'Create one' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByText('At least 10 characters. Not a common password, and not your email.').waitFor();
    assert.equal(await page.getByLabel('Invite code').count(), 0, 'no invite field while sign-up is open');
    await shot('02-register');
    await page.getByRole('button', { name: 'Create account' }).click();
    await form().waitFor();
    assert.match(page.url(), /#\/playground$/);
    // The demo model serves this server: the playground says so and links the guide to adding a real model.
    const note = page.getByTestId('demo-note');
    await note.waitFor();
    assert.match(await note.innerText(), /sdapi demo model/);
    const guide = await note.getByRole('link', { name: 'docs/models.md' }).getAttribute('href');
    assert.equal(guide, '/app/docs/models.md');
    assert.equal((await page.request.get(`${server.base}${guide}`)).status(), 200);
    const session = (await context.cookies(server.base)).find((c) => c.name === 'sdapi_session');
    assert.ok(session, 'the session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(await page.evaluate(pageCookie), '', 'page scripts cannot read the session cookie');
  });

  it('creates an application from the My account menu and generates a token, shown once', async () => {
    await page.getByText('My account').click();
    await page.getByText('1000', { exact: true }).waitFor();
    await page.getByRole('link', { name: 'Applications & tokens' }).click();
    await page.getByRole('heading', { name: 'Applications & tokens' }).waitFor();
    await page.getByLabel('Application name').fill('Tutorial script');
    await page.getByRole('button', { name: 'Create application' }).click();
    const card = page.getByRole('article', { name: 'Application Tutorial script' });
    await card.waitFor();

    await card.getByLabel('Token name').fill('seed client');
    await card.getByRole('button', { name: 'Generate token' }).click();
    const tokenBox = card.getByLabel('New token');
    await tokenBox.waitFor();
    token = await tokenBox.inputValue();
    assert.match(token, /^sdapi_[\w-]{40,}$/);
    await card.getByRole('button', { name: 'Copy' }).click();
    await card.getByRole('button', { name: 'Copied' }).waitFor();
    const row = card.getByRole('row', { name: /seed client/ });
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(token.slice(0, 12)));
    assert.match(await row.innerText(), /never/);
    await card.getByRole('button', { name: 'Done' }).click();
    assert.equal(await card.getByLabel('New token').count(), 0, 'the token is gone from the page');
    await page.reload();
    await card.waitFor();
    assert.ok(!(await page.content()).includes(token), 'the token is never shown again');

    await card.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name for Tutorial script').fill('Tutorial script (renamed)');
    await page.getByRole('button', { name: 'Save' }).click();
    const renamed = page.getByRole('article', { name: 'Application Tutorial script (renamed)' });
    await renamed.waitFor();
    await renamed.getByLabel('Token name').fill('throwaway');
    await renamed.getByRole('button', { name: 'Generate token' }).click();
    await renamed.getByRole('button', { name: 'Done' }).click();
    await renamed.getByRole('button', { name: 'Revoke token throwaway' }).click();
    await renamed.getByRole('row', { name: /throwaway.*revoked/ }).waitFor();

    // The webhook secret: hidden until asked for, rotated with a confirmation (the old one signs 24 h more).
    await renamed.getByRole('button', { name: 'Show webhook secret' }).click();
    const secretBox = renamed.getByLabel('Signing secret');
    await secretBox.waitFor();
    const secret = await secretBox.inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await renamed.getByRole('button', { name: 'Rotate secret' }).click();
    await renamed.getByRole('button', { name: 'Confirm rotation' }).click();
    await renamed.getByText(/The previous secret also signs until/).waitFor();
    assert.notEqual(await secretBox.inputValue(), secret);
    await renamed.getByRole('button', { name: 'Hide' }).click();
    await shot('03-applications', 'screenshot-account');
  });

  it("runs the tutorial's seed client with that token", { timeout: 600_000 }, async (t) => {
    if (spawnSync('python3', ['-c', 'import requests']).status !== 0) {
      t.skip('python3 with requests is not available (apt-get install python3-requests): skipping the seed-client step');
      return;
    }
    const run = spawnSync('python3', [SEED_CLIENT], { env: { ...process.env, SDAPI_URL: server.base, SDAPI_TOKEN: token, SDAPI_WAIT_S: '540' }, encoding: 'utf8', timeout: 580_000 });
    assert.equal(run.status, 0, `seed client failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /^url http:\/\/127\.0\.0\.1:\d+\/storage\/.*\.png image\/png \d+$/m);
  });

  it("shows the seed client's thread, named after its prompt, with a full-size view and a download", async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    const threadLink = page.getByRole('complementary', { name: 'Threads' }).getByRole('link', { name: /Delorean hacking time/ });
    await threadLink.waitFor();
    await threadLink.click();
    await page.getByRole('heading', { level: 1, name: 'Delorean hacking time' }).waitFor();
    const result = results().first();
    await result.getByRole('img').nth(1).waitFor();
    assert.match(await result.innerText(), /Delorean hacking time/);
    assert.match(await result.innerText(), /Clock/);

    await result.getByRole('button', { name: 'View image 1 full size' }).click();
    const viewer = page.getByRole('dialog', { name: 'Full-size image' });
    await viewer.waitFor();
    await page.waitForFunction(viewerLoaded);
    assert.deepEqual(await page.evaluate(viewerSize), [1024, 1024], 'the full-size image is the requested 1024x1024');
    const download = viewer.getByRole('link', { name: 'Download' });
    assert.match((await download.getAttribute('href')) ?? '', /\/storage\/.*\.png$/);
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    assert.match(file.suggestedFilename(), /\.png$/);
    await viewer.getByRole('button', { name: 'Close' }).click();
    await viewer.waitFor({ state: 'hidden' });
  });

  it('quotes the price on the Generate button as the form changes, then generates; the new result is on top', { timeout: 300_000 }, async () => {
    await form().getByLabel('Engine').selectOption('stable-diffusion-v1-6');
    await form().getByLabel('Resolution').selectOption('512x512');
    await form().getByLabel('Positive prompt', { exact: true }).fill('a yellow star on a blue background');
    await form().getByLabel('Negative prompt', { exact: true }).fill('');
    await form().getByLabel('Steps').fill('20');
    await form().getByLabel('Images').fill('3');
    await generate().filter({ hasText: 'Generate · 3 credits' }).waitFor();
    await form().getByLabel('Images').fill('2');
    await generate().filter({ hasText: 'Generate · 2 credits' }).waitFor();
    const styles = await form().getByLabel('Style').locator('option').allTextContents();
    assert.ok(styles.includes('neon-punk') && styles.length >= 18, 'the 17 presets and no style');
    await form().getByLabel('Seed').fill('1234');
    await form().getByLabel('CFG scale').fill('6.5');
    await form().getByLabel('Sampler').selectOption({ index: 1 });
    await generate().click();

    await page.waitForFunction(countIs, ['article.result', 2] as [string, number]);
    const newest = results().first();
    assert.match(await newest.innerText(), /a yellow star on a blue background/);
    const status = newest.getByTestId('entry-status');
    await status.waitFor();
    assert.match(await status.innerText(), /Queued|Generating/);
    await status.waitFor({ state: 'detached', timeout: 240_000 });
    await newest.getByRole('img').nth(1).waitFor();
    assert.match(await newest.innerText(), /seed 1234/);
    assert.match(await newest.innerText(), /seed 1235/);
    assert.match(await newest.innerText(), /2 credits/);
    await shot('04-playground', 'screenshot-playground');
  });

  it('reuse settings fills the form with a request; same seed also sets the seed of that image', async () => {
    await results().nth(1).getByRole('button', { name: 'Reuse settings' }).click();
    assert.equal(await form().getByLabel('Engine').inputValue(), 'stable-diffusion-xl-1024-v0-9');
    assert.equal(await form().getByLabel('Resolution').inputValue(), '1024x1024');
    assert.equal(await form().getByLabel('Positive prompt', { exact: true }).inputValue(), 'Delorean hacking time');
    assert.equal(await form().getByLabel('Negative prompt', { exact: true }).inputValue(), 'Clock');
    assert.equal(await form().getByLabel('Images').inputValue(), '2');
    assert.equal(await form().getByLabel('Steps').inputValue(), '45');
    assert.equal(await form().getByLabel('Style').inputValue(), 'neon-punk');
    assert.equal(await form().getByLabel('Seed').inputValue(), '0');
    await generate().filter({ hasText: 'Generate · 10 credits' }).waitFor();

    await results().first().getByRole('button', { name: 'Same seed as image 2 (1235)' }).click();
    assert.equal(await form().getByLabel('Positive prompt', { exact: true }).inputValue(), 'a yellow star on a blue background');
    assert.equal(await form().getByLabel('Seed').inputValue(), '1235');
    assert.equal(await form().getByLabel('CFG scale').inputValue(), '6.5');
    assert.equal(await form().getByLabel('Engine').inputValue(), 'stable-diffusion-v1-6');
    await generate().filter({ hasText: 'Generate · 2 credits' }).waitFor();
  });

  it('a 422 with three bad fields shows each at its field; an edit clears its own, a new submit the rest', { timeout: 300_000 }, async () => {
    await form().getByLabel('Images').fill('11');
    await form().getByLabel('Steps').fill('0');
    // The resolution is a list of valid values: send "big" as a script would.
    await page.route('**/api/v1/threads/*/entry', async (route) => {
      const body = JSON.parse(route.request().postData() ?? '{}');
      await route.continue({ postData: JSON.stringify({ ...body, resolution: 'big' }) });
    });
    await generate().click();
    const images = form().getByLabel('Images');
    const steps = form().getByLabel('Steps');
    const resolution = form().getByLabel('Resolution');
    await page.locator('#f-images-error').waitFor();
    assert.equal(await page.locator('#f-images-error').innerText(), 'The images may not be greater than 10.');
    assert.equal(await page.locator('#f-steps-error').innerText(), 'The steps must be at least 1.');
    assert.match(await page.locator('#f-resolution-error').innerText(), /WIDTHxHEIGHT/);
    for (const field of [images, steps, resolution]) assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.equal(await images.getAttribute('aria-describedby'), 'f-images-error');
    assert.equal(await page.getByRole('alert').count(), 0, 'no general error: each message is at its field');
    await shot('05-form-errors');

    await images.fill('1');
    await page.locator('#f-images-error').waitFor({ state: 'detached' });
    assert.equal(await page.locator('#f-steps-error').count(), 1, "the other fields' errors stay");
    await page.unroute('**/api/v1/threads/*/entry');
    await steps.fill('10');
    assert.equal(await page.locator('#f-resolution-error').count(), 1);
    await generate().filter({ hasText: /credit/ }).click();
    await page.waitForFunction(countIs, ['article.result', 3] as [string, number]);
    assert.equal(await page.locator('.field-error').count(), 0, 'a new submit clears the stale errors');
    await results().first().getByRole('img').first().waitFor({ timeout: 240_000 });
  });

  it('deletes a result after a confirmation', async () => {
    const newest = results().first();
    await newest.getByRole('button', { name: 'Delete' }).click();
    await newest.getByRole('button', { name: 'Yes, delete' }).click();
    await page.waitForFunction(countIs, ['article.result', 2] as [string, number]);
    assert.match(await results().first().innerText(), /seed 1234/);
  });

  it('a failed generation shows its error text in its result card', async () => {
    // A generation failure cannot be caused from the browser: the thread's list is answered with a failed request added.
    await page.route('**/api/v1/threads/*/entries', async (route) => {
      const res = await route.fetch();
      const json = (await res.json()) as { data: Record<string, unknown>[] };
      const [first] = json.data;
      const request = { ...first, guid: '00000000-0000-4000-8000-0000000000f1', status: 'failed', waiting_response: false, content: { ...(first.content as object), prompts: [{ text: 'a request that failed', weight: 1 }] } };
      const response = { ...first, guid: '00000000-0000-4000-8000-0000000000f2', type: 'response', status: 'failed', error: 'Image generation failed: the model could not be loaded (error id 5f0c1a2b).', content: [], credits: 0, request_guid: request.guid };
      await route.fulfill({ response: res, json: { data: [...json.data, request, response] } });
    });
    try {
      await page.reload();
      const card = page.getByRole('article', { name: 'Result: a request that failed' });
      await card.waitFor();
      assert.equal(await card.getByTestId('result-error').innerText(), 'Image generation failed: the model could not be loaded (error id 5f0c1a2b).');
      assert.equal(await card.getByRole('img').count(), 0);
    } finally {
      await page.unroute('**/api/v1/threads/*/entries');
    }
    await page.reload();
    await page.waitForFunction(countIs, ['article.result', 2] as [string, number]);
  });

  it('lists every image in the gallery, newest first', async () => {
    await page.getByRole('link', { name: 'Gallery' }).click();
    await page.getByRole('heading', { name: 'Gallery' }).waitFor();
    const items = page.locator('.gallery-item');
    await items.nth(3).waitFor();
    assert.equal(await items.count(), 4, 'the 2 seed-client images and the 2 from the form');
    assert.match(await items.first().innerText(), /a yellow star on a blue background/);
    assert.match(await items.first().innerText(), /seed 1234/);
    assert.match(await items.last().innerText(), /Delorean hacking time/);
    await shot('06-gallery', 'screenshot-gallery');
  });

  it('shows the balance and the ledger (grant, reservations, charges, the refund of a deleted request) under My account', async () => {
    await page.getByText('My account').click();
    await page.getByRole('link', { name: 'Usage & credits' }).click();
    const ledger = page.getByRole('table', { name: 'Credit ledger' });
    await ledger.waitFor();
    const text = await ledger.innerText();
    for (const kind of ['Grant', 'Reserved', 'Charged']) assert.match(text, new RegExp(kind));
    const balance = Number(await page.getByTestId('account-balance').innerText());
    assert.ok(balance < 1000 && balance > 0, `balance ${balance}`);
    await shot('07-usage', 'screenshot-usage');
  });

  it('renames a thread and deletes it after a confirmation', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    await page.getByRole('complementary', { name: 'Threads' }).getByRole('link', { name: /Delorean hacking time/ }).click();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Thread title').fill('Delorean at night');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { level: 1, name: 'Delorean at night' }).waitFor();
    const list = page.getByRole('complementary', { name: 'Threads' });
    await list.getByRole('link', { name: /Delorean at night/ }).waitFor();

    await page.getByRole('button', { name: 'Delete thread' }).click();
    await page.getByRole('group', { name: 'Confirm thread deletion' }).waitFor();
    await page.getByRole('button', { name: 'Yes, delete thread' }).click();
    await page.getByRole('heading', { level: 1, name: 'Playground' }).waitFor();
    assert.match(page.url(), /#\/playground$/);
    await list.getByRole('link', { name: /Delorean at night/ }).waitFor({ state: 'detached' });
    assert.equal(await list.getByRole('listitem').count(), 0, 'no thread is left');
  });

  it('logs out and back in', async () => {
    await page.getByText('My account').click();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await form().waitFor();
  });

  it('serves Swagger UI at /docs under its Content-Security-Policy, with every operation listed', async () => {
    const response = await page.goto(`${server.base}/docs/`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    await page.locator('.swagger-ui .opblock').first().waitFor();
    assert.ok((await page.locator('.swagger-ui .opblock').count()) >= 20, 'the operations are rendered');
    await page.getByText('/api/v1/threads/{guid}/entry', { exact: true }).first().waitFor();
    await page.getByText('/metrics', { exact: true }).first().waitFor();
    await shot('10-docs');
    await page.goto(`${server.base}/#/playground`);
    await form().waitFor();
  });

  it('raised no script errors or CSP violations in the page', () => {
    assert.deepEqual(errors, []);
  });
});

describe('web UI registration by invite (SDAPI_SIGNUP=invite)', { skip: SKIP_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    server = await startTestServer({ env: { SDAPI_SIGNUP: 'invite', SDAPI_WORKERS: '0' } });
    browser = await launchBrowser();
    // Its own browser context: cookies are per host, not per port, so the main flow's session stays untouched.
    ({ page } = await openPage(browser, errors));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  it('asks for an invite code, shows why a wrong one is refused, and registers with a code from `sdapi invites create`', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, SDAPI_DATA_DIR: server.dataDir, SDAPI_ENV_FILE: 'none' };
    delete env.SDAPI_DATABASE_URL;
    delete env.DATABASE_URL;
    const made = spawnSync(process.execPath, ['bin/sdapi.js', 'invites', 'create', '--credits', '77'], { cwd: ROOT, env, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const code = made.stdout.trim();

    await page.goto(`${server.base}/#/register`);
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await page.getByLabel('Email').fill('invited@example.com');
    await page.getByLabel('Password').fill('an invited guest');
    await page.getByLabel('Invite code').fill('inv_wrong-code');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').filter({ hasText: 'invite code is not valid' }).waitFor();
    await page.screenshot({ path: join(SHOTS, '11-register-invite.png'), fullPage: true });

    await page.getByLabel('Invite code').fill(code);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('form', { name: 'New request' }).waitFor();
    await page.getByText('My account').click();
    await page.getByText('77', { exact: true }).waitFor();
    assert.deepEqual(errors, []);
  });
});
