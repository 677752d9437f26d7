/**
 * The web UI in a real browser (Debian's chromium driven by playwright-core), against the server started
 * the way the README starts it (`node bin/sdapi.js serve`) on a free loopback port with a temp data dir:
 * register → create an application → generate a token → use it from the tutorial's seed client → see its
 * images in the playground → generate a second entry from the form and watch it complete.
 * Screenshots of each page go to test-output/screenshots/ (and to docs/ with SDAPI_DOCS_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const SEED_CLIENT = resolve(ROOT, 'test/fixtures/seed_client.py');
const SHOTS = join(ROOT, 'test-output/screenshots');
const DOCS_SHOTS = process.env.SDAPI_DOCS_SCREENSHOTS === '1';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
// Browser-side predicates. They are serialized into the page (not eval'd, which the page's CSP forbids), so each
// is self-contained; the casts only stand in for the DOM types this Node project does not load.
type Img = { complete: boolean; naturalWidth: number; naturalHeight: number };
type Doc = { querySelectorAll(selector: string): Iterable<Img> & { length: number }; querySelector(selector: string): Img | null; cookie: string };
const galleryLoaded = () =>
  [...(globalThis as unknown as { document: Doc }).document.querySelectorAll('.gallery img')].every((img) => img.complete && img.naturalWidth > 0);
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

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)`;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? res(address.port) : rej(new Error('no port'))));
    });
  });
}

async function waitForServer(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${log()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the server did not answer at ${url}:\n${log()}`);
}

async function screenshot(page: Page, name: string, docsName?: string): Promise<void> {
  const file = join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (DOCS_SHOTS && docsName) copyFileSync(file, join(ROOT, 'docs', docsName));
}

describe('web UI in chromium', { skip }, () => {
  let server: ChildProcess;
  let serverLog = '';
  let context: BrowserContext;
  let page: Page;
  let base = '';
  let dataDir = '';
  let profileDir = '';
  const pageErrors: string[] = [];
  const email = `ui-${Date.now()}@example.com`;
  const password = 'a-long-password';
  let token = '';

  const shot = (name: string, docsName?: string) => screenshot(page, name, docsName);

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-ui-data-'));
    profileDir = mkdtempSync(join(tmpdir(), 'sdapi-ui-profile-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      SDAPI_DATA_DIR: dataDir,
      SDAPI_SIGNUP_CREDITS: '1000',
      LOG_LEVEL: 'warn',
    };
    delete env.SDAPI_DATABASE_URL;
    delete env.DATABASE_URL;
    delete env.SDAPI_PUBLIC_URL;
    if (!process.env.SDAPI_MODEL_DIR && !existsSync(join(ROOT, 'models/demo/model_index.json'))) {
      env.SDAPI_MODEL_DIR = join(ROOT, 'models/tiny/sd1');
      console.log('# models/demo is not there: using the tiny test model models/tiny/sd1');
    } else {
      console.log(`# model: ${process.env.SDAPI_MODEL_DIR ?? 'the default (models/demo)'}`);
    }
    // The test entry script holds each generation a moment, so the live status is on screen long enough to assert.
    server = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/sdapi-test.ts', '--delay-generation', '1500', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout?.on('data', (d) => (serverLog += d));
    server.stderr?.on('data', (d) => (serverLog += d));
    await waitForServer(`${base}/`, server, () => serverLog);

    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 860 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // 4xx answers the UI handles (a wrong password, no session yet) are not script errors.
      if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) {
        pageErrors.push(`console: ${msg.text()}`);
      }
    });
    page.setDefaultTimeout(30_000);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    for (const dir of [dataDir, profileDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('registers a new account from the login page', async () => {
    await page.goto(`${base}/`);
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
    await page.getByRole('button', { name: 'New thread' }).waitFor();
    assert.match(page.url(), /#\/playground$/);
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'sdapi_session');
    assert.ok(session, 'the session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(await page.evaluate(pageCookie), '', 'page scripts cannot read the session cookie');
  });

  it('creates an application from the My account menu and generates a token, shown once', async () => {
    await page.getByText('My account').click();
    await page.getByText('1000', { exact: true }).waitFor();
    await shot('03-account-menu');
    await page.getByRole('menuitem', { name: 'Applications & tokens' }).click();
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
    await shot('04-applications-new-token', 'screenshot-account.png');

    await card.getByRole('button', { name: 'Done' }).click();
    assert.equal(await card.getByLabel('New token').count(), 0, 'the token is gone from the page');
    await page.reload();
    await card.waitFor();
    assert.equal(await page.getByText(token).count(), 0, 'the token is never shown again');
    assert.ok(!(await page.content()).includes(token));

    // Rename and a second, revoked token, to exercise the rest of the page.
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
  });

  it("runs the tutorial's seed client with that token", { timeout: 600_000 }, async (t) => {
    if (spawnSync('python3', ['-c', 'import requests']).status !== 0) {
      t.skip('python3 with requests is not available (apt-get install python3-requests): skipping the seed-client step');
      return;
    }
    const run = spawnSync('python3', [SEED_CLIENT], {
      env: { ...process.env, SDAPI_URL: base, SDAPI_TOKEN: token, SDAPI_WAIT_S: '540' },
      encoding: 'utf8',
      timeout: 580_000,
    });
    assert.equal(run.status, 0, `seed client failed:\n${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /thumbnail_url http:\/\/127\.0\.0\.1:\d+\/storage\/.* image\/jpeg/);
    assert.match(run.stdout, /^url http:\/\/127\.0\.0\.1:\d+\/storage\/.*\.png image\/png \d+$/m);
  });

  it("shows the seed client's thread and images in the playground, with a full-size view and a download", async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    const threadLink = page.getByRole('complementary', { name: 'Threads' }).getByRole('link', { name: /New thread with Stable Diffusion/ });
    await threadLink.waitFor();
    assert.equal(await threadLink.count(), 1, "the seed client's thread is listed");
    await threadLink.click();
    const response = page.getByRole('article', { name: 'Response' }).first();
    await response.waitFor();
    const thumbs = response.getByRole('img');
    assert.equal(await thumbs.count(), 2, 'the seed client asked for 2 images');
    await page.waitForFunction(galleryLoaded);
    const prompts = await page.getByRole('article', { name: 'Request' }).first().innerText();
    assert.match(prompts, /Delorean hacking time/);
    assert.match(prompts, /Clock/);
    await shot('05-playground-seed-thread');

    await response.getByRole('button', { name: 'View image 1 full size' }).click();
    const viewer = page.getByRole('dialog', { name: 'Full-size image' });
    await viewer.waitFor();
    await page.waitForFunction(viewerLoaded);
    const size = await page.evaluate(viewerSize);
    assert.deepEqual(size, [1024, 1024], 'the full-size image is the requested 1024x1024');
    const download = viewer.getByRole('link', { name: 'Download' });
    assert.match((await download.getAttribute('href')) ?? '', /\/storage\/.*\.png$/);
    assert.match((await download.getAttribute('download')) ?? '', /^[\w-]+\.png$/);
    await shot('06-full-size-view');
    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    assert.match(file.suggestedFilename(), /\.png$/);
    await viewer.getByRole('button', { name: 'Close' }).click();
    await viewer.waitFor({ state: 'hidden' });
  });

  it('generates a second entry from the playground form and watches it complete', { timeout: 600_000 }, async () => {
    const form = page.getByRole('form', { name: 'New request' });
    await form.getByLabel('Engine').selectOption('stable-diffusion-v1-6');
    await form.getByLabel('Resolution').selectOption('512x512');
    await form.getByLabel('Positive prompt', { exact: true }).fill('a yellow star on a blue background');
    // No negative prompt here (the seed client's entry has one): an empty prompt row is left out of the request.
    await form.getByLabel('Negative prompt', { exact: true }).fill('');
    await form.getByLabel('Images').fill('2');
    await form.getByLabel('Steps').fill('20');
    // Every preset is offered; this request uses none (the demo model only knows its own caption words).
    const styles = await form.getByLabel('Style').locator('option').allTextContents();
    assert.ok(styles.includes('neon-punk') && styles.includes('enhance') && styles.length >= 18, 'the 17 presets and no style');
    await form.getByLabel('Style').selectOption('');
    await form.getByLabel('Seed').fill('1234');
    await form.getByLabel('CFG scale').fill('6.5');
    const samplers = await form.getByLabel('Sampler').locator('option').allTextContents();
    assert.ok(samplers.length > 1, 'the engine lists its samplers');
    await form.getByLabel('Sampler').selectOption({ index: 1 });
    await form.getByRole('button', { name: 'Generate' }).click();

    const requests = page.getByRole('article', { name: 'Request' });
    await page.waitForFunction(countIs, ['article[aria-label="Request"]', 2] as [string, number]);
    const status = requests.nth(1).getByTestId('entry-status');
    await status.waitFor();
    assert.match(await status.innerText(), /Queued|Generating/);
    await shot('07-playground-pending');
    await status.waitFor({ state: 'detached', timeout: 540_000 });

    const responses = page.getByRole('article', { name: 'Response' });
    await page.waitForFunction(countIs, ['article[aria-label="Response"]', 2] as [string, number]);
    const second = responses.nth(1);
    assert.equal(await second.getByRole('img').count(), 2);
    await page.waitForFunction(galleryLoaded);
    assert.match(await second.innerText(), /512x512/);
    assert.match(await second.innerText(), /seed 1234/);
    assert.match(await requests.nth(1).innerText(), /a yellow star on a blue background/);
    assert.doesNotMatch(await requests.nth(1).innerText(), /enhance|neon-punk/);
    assert.doesNotMatch(await requests.nth(1).innerText(), /negative/);
    await shot('08-playground-complete', 'screenshot-playground.png');
  });

  it('shows the balance and the ledger (grant, reservations, charges) under My account', async () => {
    await page.getByText('My account').click();
    await page.getByRole('menuitem', { name: 'Usage & credits' }).click();
    const ledger = page.getByRole('table', { name: 'Credit ledger' });
    await ledger.waitFor();
    const text = await ledger.innerText();
    assert.match(text, /Grant/);
    assert.match(text, /Reserved/);
    assert.match(text, /Charged/);
    const balance = Number(await page.getByTestId('account-balance').innerText());
    assert.ok(balance < 1000 && balance > 0, `balance ${balance}`);
    await shot('09-usage', 'screenshot-usage.png');
  });

  it('logs out and back in', async () => {
    await page.getByText('My account').click();
    await page.getByRole('menuitem', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'do not match' }).waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'New thread' }).waitFor();
  });

  it('serves Swagger UI at /docs under its Content-Security-Policy, with every operation listed', async () => {
    const response = await page.goto(`${base}/docs/`);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    await page.locator('.swagger-ui .opblock').first().waitFor();
    assert.ok((await page.locator('.swagger-ui .opblock').count()) >= 20, 'the operations are rendered');
    await page.getByText('/api/v1/threads/{guid}/entry', { exact: true }).first().waitFor();
    await page.getByText('/metrics', { exact: true }).first().waitFor();
    await shot('10-docs');
    await page.goto(`${base}/#/playground`);
    await page.getByRole('button', { name: 'New thread' }).waitFor();
  });

  it('raised no script errors or CSP violations in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('web UI registration by invite (SDAPI_SIGNUP=invite)', { skip }, () => {
  let server: ChildProcess;
  let serverLog = '';
  let browser: Browser;
  let page: Page;
  let base = '';
  let dataDir = '';
  let env: NodeJS.ProcessEnv = {};
  const errors: string[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdapi-ui-invite-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = { ...process.env, HOST: '127.0.0.1', PORT: String(port), SDAPI_DATA_DIR: dataDir, SDAPI_SIGNUP: 'invite', SDAPI_WORKERS: '0', LOG_LEVEL: 'warn' };
    delete env.SDAPI_DATABASE_URL;
    delete env.DATABASE_URL;
    delete env.SDAPI_PUBLIC_URL;
    server = spawn(process.execPath, ['bin/sdapi.js', 'serve'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stdout?.on('data', (d) => (serverLog += d));
    server.stderr?.on('data', (d) => (serverLog += d));
    await waitForServer(`${base}/`, server, () => serverLog);
    // Its own browser context: cookies are per host, not per port, so the main flow's session stays untouched.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) errors.push(`console: ${msg.text()}`);
    });
    page.setDefaultTimeout(30_000);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill('SIGKILL');
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('asks for an invite code, shows why a wrong one is refused, and registers with a code from `sdapi invites create`', async () => {
    const made = spawnSync(process.execPath, ['bin/sdapi.js', 'invites', 'create', '--credits', '77'], { cwd: ROOT, env, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const code = made.stdout.trim();

    await page.goto(`${base}/#/register`);
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    await page.getByLabel('Email').fill('invited@example.com');
    await page.getByLabel('Password').fill('an invited guest');
    await page.getByLabel('Invite code').fill('inv_wrong-code');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('alert').filter({ hasText: 'invite code is not valid' }).waitFor();
    await screenshot(page, '11-register-invite');

    await page.getByLabel('Invite code').fill(code);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('button', { name: 'New thread' }).waitFor();
    await page.getByText('My account').click();
    await page.getByText('77', { exact: true }).waitFor();
    assert.deepEqual(errors, []);
  });
});
