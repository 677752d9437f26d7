/**
 * The playground's live result (issues #9 and #15), in chromium against `sdapi serve` with the real engine: while a
 * request runs, its card follows the thread's event stream (progress "step i of n", the live preview image) and
 * offers Cancel; cancelling keeps the images finished before the stop and refunds the rest. Also the 390 px layout
 * and axe-core with the live card on screen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { assertAccessible, assertNoOverflow, launchBrowser, openPage, PHONE, SKIP_BROWSER, startTestServer, type TestServer } from './browser-helpers.ts';

describe('live result: progress, preview and cancel in the playground', { skip: SKIP_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    ({ page } = await openPage(browser, errors));
  });
  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  const form = () => page.getByRole('form', { name: 'New request' });

  it('shows step i of n and the live preview while generating; Cancel stops it, keeps finished images and refunds the rest', { timeout: 300_000 }, async () => {
    await page.goto(`${server.base}/#/register`);
    await page.getByLabel('Email').fill(`live-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a-long-password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await form().waitFor();

    await form().getByLabel('Engine').selectOption('stable-diffusion-v1-6');
    await form().getByLabel('Resolution').selectOption('512x512');
    await form().getByLabel('Positive prompt', { exact: true }).fill('a red circle on a white background');
    await form().getByLabel('Steps').fill('150');
    await form().getByLabel('Images').fill('10');
    await page.getByTestId('generate').filter({ hasText: 'Generate · 40 credits' }).waitFor();
    await page.getByTestId('generate').click();

    const card = page.getByRole('article', { name: /^Result: / }).first();
    const status = card.getByTestId('entry-status');
    await status.waitFor();
    // Driven by the event stream: the step counter and a preview image of the latents.
    await card.getByText(/Generating: step \d+ of 150 · image \d+ of 10/).waitFor({ timeout: 120_000 });
    const preview = card.getByRole('img', { name: 'Preview of the image being generated' });
    await preview.waitFor({ timeout: 120_000 });
    assert.match((await preview.getAttribute('src')) ?? '', /^data:image\/jpeg;base64,/);
    await assertAccessible(page, 'playground with a live result');
    await page.setViewportSize(PHONE);
    await assertNoOverflow(page, 'playground with a live result at 390 px');
    await page.setViewportSize({ width: 1280, height: 800 });

    // Wait until at least one image is finished, then cancel.
    await card.getByText(/image ([2-9]|10) of 10/).waitFor({ timeout: 120_000 });
    await card.getByRole('button', { name: 'Cancel this request' }).click();
    await status.waitFor({ state: 'detached', timeout: 60_000 });
    await card.getByTestId('result-error').filter({ hasText: 'The request was cancelled.' }).waitFor();
    const shots = await card.getByRole('list', { name: 'Images' }).getByRole('listitem').count();
    assert.ok(shots >= 1 && shots < 10, `finished images kept: ${shots}`);
    // 4 credits per image: the kept ones are charged, the rest refunded (1000 sign-up credits).
    const account = await (await page.request.get(`${server.base}/api/v1/account`)).json();
    assert.equal(account.data.credits, 1000 - 4 * shots);
    assert.deepEqual(errors, []);
  });
});
