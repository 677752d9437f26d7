/**
 * Every page of the web UI at 1280×800 and 390×844, light and dark: no sideways scrolling and no serious or critical
 * axe-core violations (login, register, playground with a result, gallery, applications & tokens, usage, /docs);
 * then a keyboard-only flow: log in, generate, download, with Tab and Enter only. One server and one browser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { assertAccessible, assertNoOverflow, DESKTOP, launchBrowser, openPage, PHONE, SKIP_BROWSER, startTestServer, type TestServer } from './browser-helpers.ts';

const PASSWORD = 'a-long-password';
/** A cheap request: 2 images, 512×512, 10 steps (2 credits). */
const SMALL = { type: 'request', engine: 'stable-diffusion-v1-6', resolution: '512x512', prompts: [{ text: 'a red circle on a blue background', weight: 1 }], images: 2, steps: 10, seed: 42 };

type El = { tagName: string; id: string; textContent: string | null; getAttribute(name: string): string | null };
type Doc = { activeElement: El | null };
/** The focused element as `tag#id "name"` (browser side, self-contained). */
const focused = () => {
  const el = (globalThis as unknown as { document: Doc }).document.activeElement;
  if (!el) return '';
  const name = el.getAttribute('aria-label') || (el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 60);
  return `${el.tagName.toLowerCase()}#${el.id} "${name}"`;
};
/** The focused element's outline (browser side): what makes focus visible. */
const focusOutline = () => {
  const g = globalThis as unknown as { document: Doc; getComputedStyle(el: El): { outlineStyle: string; outlineWidth: string } };
  const el = g.document.activeElement;
  if (!el) return 'none';
  const style = g.getComputedStyle(el);
  return `${style.outlineStyle} ${style.outlineWidth}`;
};

type Styled = { getComputedStyle(el: unknown): { display: string; backgroundColor: string }; document: { body: unknown } };
const displayOf = (el: unknown) => (globalThis as unknown as Styled).getComputedStyle(el).display;
const bodyBackground = () => {
  const g = globalThis as unknown as Styled;
  return g.getComputedStyle(g.document.body).backgroundColor;
};

/** Presses Tab until the focused element matches `pattern` (at most `max` presses). */
async function tabTo(page: Page, pattern: RegExp, max = 60): Promise<string> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const now = await page.evaluate(focused);
    seen.push(now);
    if (pattern.test(now)) return now;
  }
  throw new Error(`Tab never reached ${pattern}; focus went through:\n${seen.join('\n')}`);
}

describe('web UI pages: layout, accessibility, dark mode and keyboard', { skip: SKIP_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  const email = `pages-${Date.now()}@example.com`;
  let thread = '';

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, errors));
    // An account with something on every page: a token, a thread with a 2-image result (gallery), ledger rows.
    await page.goto(`${server.base}/#/register`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('form', { name: 'New request' }).waitFor();
    const csrf = (await (await context.request.get(`${server.base}/api/v1/auth/session`)).json()).data.csrf_token as string;
    const write = async (path: string, data: unknown) => {
      const res = await context.request.post(`${server.base}/api/v1${path}`, { data, headers: { 'x-csrf-token': csrf } });
      assert.ok(res.ok(), `${path}: ${res.status()} ${await res.text()}`);
      return (await res.json()).data;
    };
    const app = await write('/applications', { name: 'My script' });
    await write(`/applications/${app.id}/tokens`, { name: 'laptop' });
    thread = (await write('/threads', { ai_version_code: 'stablediffusion_text2img' })).guid;
    await write(`/threads/${thread}/entry`, SMALL);
    const deadline = Date.now() + 240_000;
    for (;;) {
      const entries = (await (await context.request.get(`${server.base}/api/v1/threads/${thread}/entries`)).json()).data as { type: string }[];
      if (entries.some((e) => e.type === 'response')) break;
      assert.ok(Date.now() < deadline, 'the request was answered in time');
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  /** The signed-in pages, each with what shows it is loaded. */
  const signedIn = () => [
    { name: 'playground', hash: `#/playground/${thread}`, ready: (p: Page) => p.getByRole('article', { name: /Result: a red circle/ }).getByRole('img').nth(1).waitFor() },
    { name: 'gallery', hash: '#/gallery', ready: (p: Page) => p.locator('.gallery-item img').nth(1).waitFor() },
    { name: 'applications & tokens', hash: '#/account/applications', ready: (p: Page) => p.getByRole('table', { name: 'Tokens of My script' }).waitFor() },
    { name: 'usage', hash: '#/account/usage', ready: (p: Page) => p.getByRole('table', { name: 'Credit ledger' }).waitFor() },
  ];

  for (const [label, viewport] of [
    ['1280×800', DESKTOP],
    ['390×844', PHONE],
  ] as const) {
    it(`at ${label}: every signed-in page fits the width and passes axe-core`, async () => {
      await page.setViewportSize(viewport);
      for (const p of signedIn()) {
        await page.goto(`${server.base}/${p.hash}`);
        await p.ready(page);
        await assertNoOverflow(page, `${p.name} at ${label}`);
        await assertAccessible(page, `${p.name} at ${label}`);
      }
      // The account menu, open.
      await page.getByText('My account').click();
      await page.getByRole('link', { name: 'Usage & credits' }).waitFor();
      await assertNoOverflow(page, `account menu at ${label}`);
      await assertAccessible(page, `account menu at ${label}`);
      await page.keyboard.press('Escape');
    });

    it(`at ${label}: the login and register pages fit and pass axe-core`, async () => {
      const { context: anon, page: p } = await openPage(browser, errors, { viewport });
      try {
        await p.goto(`${server.base}/#/login`);
        await p.getByRole('heading', { name: 'Log in' }).waitFor();
        await assertNoOverflow(p, `login at ${label}`);
        await assertAccessible(p, `login at ${label}`);
        // A failed login shows its error; still accessible.
        await p.getByLabel('Email').fill(email);
        await p.getByLabel('Password').fill('not-the-password');
        await p.getByRole('button', { name: 'Log in' }).click();
        await p.getByRole('alert').waitFor();
        await assertAccessible(p, `login with an error at ${label}`);
        await p.goto(`${server.base}/#/register`);
        await p.getByRole('heading', { name: 'Create an account' }).waitFor();
        await assertNoOverflow(p, `register at ${label}`);
        await assertAccessible(p, `register at ${label}`);
      } finally {
        await anon.close();
      }
    });
  }

  it('at 390 px the token and ledger tables become cards, and the header spans the width', async () => {
    for (const width of [360, 390, 414]) {
      await page.setViewportSize({ width, height: 844 });
      await page.goto(`${server.base}/#/account/applications`);
      const table = page.getByRole('table', { name: 'Tokens of My script' });
      await table.waitFor();
      assert.equal(await table.evaluate(displayOf), 'block', 'the table is laid out as cards');
      await assertNoOverflow(page, `applications at ${width}`);
      const header = await page.locator('header.topbar').boundingBox();
      assert.ok(header && header.x === 0 && Math.round(header.width) === width, `the header spans ${width} px: ${JSON.stringify(header)}`);
      await page.goto(`${server.base}/#/account/usage`);
      await page.getByRole('table', { name: 'Credit ledger' }).waitFor();
      await assertNoOverflow(page, `usage at ${width}`);
      await page.goto(`${server.base}/#/playground/${thread}`);
      await page.getByRole('article', { name: /Result: a red circle/ }).waitFor();
      await assertNoOverflow(page, `playground at ${width}`);
    }
    await page.setViewportSize(DESKTOP);
  });

  it('in dark mode (prefers-color-scheme: dark) every page passes axe-core, colour contrast included', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    try {
      for (const p of signedIn()) {
        await page.goto(`${server.base}/${p.hash}`);
        await p.ready(page);
        const background = await page.evaluate(bodyBackground);
        assert.notEqual(background, 'rgb(246, 247, 251)', 'the dark palette is in use');
        await assertAccessible(page, `${p.name} (dark)`);
      }
      const { context: anon, page: p } = await openPage(browser, errors, { colorScheme: 'dark' });
      await p.goto(`${server.base}/#/login`);
      await p.getByRole('heading', { name: 'Log in' }).waitFor();
      await assertAccessible(p, 'login (dark)');
      await anon.close();
    } finally {
      await page.emulateMedia({ colorScheme: 'light' });
    }
  });

  it('/docs (Swagger UI) fits the width and passes axe-core (but for Swagger UI’s nested summary buttons)', async () => {
    for (const viewport of [DESKTOP, PHONE]) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.base}/docs`);
      await page.getByText('/api/v1/threads/{guid}/entry').first().waitFor();
      await assertNoOverflow(page, `/docs at ${viewport.width}`);
      // Swagger UI nests its copy and lock buttons inside each operation's summary button: its structure, not ours.
      await assertAccessible(page, `/docs at ${viewport.width}`, { disableRules: ['nested-interactive'] });
    }
    await page.setViewportSize(DESKTOP);
  });

  it('keyboard only: log in, generate and download with Tab and Enter, focus always visible', { timeout: 300_000 }, async () => {
    const { context: kb, page: p } = await openPage(browser, errors);
    try {
      await p.goto(`${server.base}/#/login`);
      await p.getByRole('heading', { name: 'Log in' }).waitFor();
      await tabTo(p, /^input#/, 10);
      assert.match(await p.evaluate(focused), /input/);
      await p.keyboard.type(email);
      await tabTo(p, /input.*password|^input#/, 3);
      await p.keyboard.type(PASSWORD);
      await p.keyboard.press('Enter');
      await p.getByRole('form', { name: 'New request' }).waitFor();
      await p.getByTestId('generate').filter({ hasText: /credit/ }).waitFor();

      await tabTo(p, /^textarea#f-prompt-0 /);
      assert.notEqual(await p.evaluate(focusOutline), 'none 0px', 'the focused prompt shows its focus');
      await p.keyboard.type('a yellow star on a green background');
      await p.getByTestId('generate').filter({ hasText: /credit/ }).waitFor();
      await tabTo(p, /^button# "Generate · \d+ credits?"/);
      assert.match(await p.evaluate(focusOutline), /^solid [1-9]/, 'the focused Generate button shows its focus');
      await p.keyboard.press('Enter');
      const result = p.getByRole('article', { name: /Result: a yellow star/ });
      await result.getByRole('img').first().waitFor({ timeout: 240_000 });

      await tabTo(p, /^a# "Download image 1"/, 80);
      assert.match(await p.evaluate(focusOutline), /^solid [1-9]/, 'the focused download link shows its focus');
      const [download] = await Promise.all([p.waitForEvent('download'), p.keyboard.press('Enter')]);
      assert.match(download.suggestedFilename(), /\.png$/);
    } finally {
      await kb.close();
    }
  });

  it('raised no script errors or CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
