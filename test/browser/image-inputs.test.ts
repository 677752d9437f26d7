/**
 * Image-to-image and inpainting in the playground, in Chromium: upload an init image with the file picker, set the
 * strength and generate (an image-to-image thread opens); "Use as init image" on a result; paint a mask with the
 * brush (and erase part of it) and inpaint; drag and drop. At 1280×800 and 390×844 the form with the mask painter
 * open fits the width and passes axe-core. One server and one browser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { assertAccessible, assertNoOverflow, DESKTOP, launchBrowser, openPage, PHONE, SKIP_BROWSER, startTestServer, type TestServer } from './browser-helpers.ts';

type Entry = { type: string; guid: string; content: Record<string, unknown> & { init_image?: string; mask_image?: string }; error: string | null };

describe('playground image inputs in chromium', { skip: SKIP_BROWSER }, () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];
  let initPng: Buffer;

  const form = () => page.getByRole('form', { name: 'New request' });
  const generate = () => page.getByTestId('generate');

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    ({ context, page } = await openPage(browser, errors));
    await page.goto(`${server.base}/#/register`);
    await page.getByLabel('Email').fill(`images-${Date.now()}@example.com`);
    await page.getByLabel('Password').fill('a-long-password');
    await page.getByRole('button', { name: 'Create account' }).click();
    await form().waitFor();
    const rgb = Buffer.alloc(96 * 64 * 3);
    for (let p = 0; p < 96 * 64; p++) rgb.set([(p % 96) * 2, Math.floor(p / 96) * 3, 120], p * 3);
    initPng = await sharp(rgb, { raw: { width: 96, height: 64, channels: 3 } }).png().toBuffer();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  });

  /** A new, empty form: once the engines have loaded (Generate is enabled only then) the form's values are its own. */
  async function freshForm(): Promise<void> {
    await page.goto(`${server.base}/#/playground`);
    await page.reload();
    await page.waitForFunction(() => {
      const button = (globalThis as unknown as { document: { querySelector(s: string): { disabled: boolean } | null } }).document.querySelector('[data-testid=generate]');
      return button !== null && !button.disabled;
    });
  }

  async function entries(thread: string): Promise<Entry[]> {
    return (await (await context.request.get(`${server.base}/api/v1/threads/${thread}/entries`)).json()).data as Entry[];
  }
  async function threadOf(): Promise<{ guid: string; ai_version_code: string }> {
    await page.waitForURL(/#\/playground\/[0-9a-f-]{36}$/);
    const guid = /playground\/([0-9a-f-]{36})$/.exec(page.url())?.[1] ?? '';
    const thread = (await (await context.request.get(`${server.base}/api/v1/threads/${guid}`)).json()).data;
    return thread;
  }
  async function waitForResult(thread: string): Promise<Entry> {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const response = (await entries(thread)).find((e) => e.type === 'response');
      if (response) return response;
      assert.ok(Date.now() < deadline, 'answered in time');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it('uploads an init image with the file picker, sets the strength, and generates in a new image-to-image thread', { timeout: 300_000 }, async () => {
    await freshForm();
    await form().getByRole('textbox', { name: 'Positive prompt' }).fill('a lighthouse at dusk');
    await form().getByLabel('Init image').setInputFiles({ name: 'dusk.png', mimeType: 'image/png', buffer: initPng });
    await form().getByRole('img', { name: 'Init image: dusk.png' }).waitFor();
    const slider = form().getByLabel(/Image strength/);
    await slider.fill('0.5');
    await form().getByText('Image strength: 0.50').waitFor();
    await page.waitForFunction(() => /credit/.test((globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector('[data-testid=generate]')?.textContent ?? ''));
    await generate().click();
    const thread = await threadOf();
    assert.equal(thread.ai_version_code, 'stablediffusion_img2img');
    const response = await waitForResult(thread.guid);
    assert.equal(response.error, null);
    const request = (await entries(thread.guid)).find((e) => e.type === 'request');
    assert.equal(request?.content.image_strength, 0.5);
    assert.match(String(request?.content.init_image), /\/storage\/inputs\/[0-9a-f-]{36}\.png$/);
    await page.getByRole('article', { name: /Result: a lighthouse/ }).getByRole('img').first().waitFor();
  });

  it('"Use as init image" on a result starts the form from it; painting a mask with brush and eraser inpaints in a new thread', { timeout: 300_000 }, async () => {
    const before = await threadOf();
    await page.getByRole('button', { name: 'Use image 1 as init image' }).click();
    await page.waitForURL(/#\/playground$/);
    await form().getByRole('img', { name: /^Init image/ }).waitFor();
    await form().getByLabel('Inpaint: repaint only a masked part').check();
    const canvas = page.getByTestId('mask-canvas');
    await canvas.waitFor();
    await canvas.scrollIntoViewIfNeeded();
    let box = await canvas.boundingBox();
    assert.ok(box && box.width > 50, 'the canvas is on screen');
    // A stroke across the middle with the brush, then the eraser over its right half.
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.8, box.y + box.height * 0.5, { steps: 8 });
    await page.mouse.up();
    await form().getByRole('button', { name: 'Eraser' }).click();
    assert.equal(await form().getByRole('button', { name: 'Eraser' }).getAttribute('aria-pressed'), 'true');
    // The click may have scrolled the form panel.
    await canvas.scrollIntoViewIfNeeded();
    box = await canvas.boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + box.width * 0.55, box.y + box.height * 0.5);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.95, box.y + box.height * 0.5, { steps: 8 });
    await page.mouse.up();
    await generate().click();
    await page.waitForURL((url) => url.hash.startsWith('#/playground/') && !url.hash.endsWith(before.guid), { timeout: 60_000 }).catch(async (err) => {
      throw new Error(`${err}: the form says ${await form().innerText()}`);
    });
    const thread = await threadOf();
    assert.equal(thread.ai_version_code, 'stablediffusion_inpaint');
    const response = await waitForResult(thread.guid);
    assert.equal(response.error, null);
    const request = (await entries(thread.guid)).find((e) => e.type === 'request');
    assert.ok(request);
    assert.equal(request.content.mask_source, 'MASK_IMAGE_WHITE');
    // The mask that was sent: white where the brush stayed (left part of the stroke), black where it was erased and elsewhere.
    const mask = await context.request.get(new URL(String(request.content.mask_image)).toString().replace(/^https?:\/\/[^/]+/, server.base));
    const { data, info } = await sharp(await mask.body()).greyscale().raw().toBuffer({ resolveWithObject: true });
    const at = (fx: number, fy: number) => data[Math.floor(fy * info.height) * info.width + Math.floor(fx * info.width)];
    assert.equal(at(0.35, 0.5), 255, 'painted');
    assert.equal(at(0.75, 0.5), 0, 'erased');
    assert.equal(at(0.5, 0.1), 0, 'never painted');
  });

  for (const [label, viewport] of [
    ['1280×800', DESKTOP],
    ['390×844', PHONE],
  ] as const) {
    it(`at ${label}: the form with an init image and the mask painter open fits the width and passes axe-core`, async () => {
      await page.setViewportSize(viewport);
      await freshForm();
      await form().getByLabel('Init image').setInputFiles({ name: 'dusk.png', mimeType: 'image/png', buffer: initPng });
      await form().getByLabel('Inpaint: repaint only a masked part').check();
      await page.getByTestId('mask-canvas').waitFor();
      await assertNoOverflow(page, `mask painter at ${label}`);
      await assertAccessible(page, `mask painter at ${label}`);
      await page.setViewportSize(DESKTOP);
    });
  }

  it('the hires fix: ticked with a scale, the request carries it and the image comes back at the upscaled size', { timeout: 300_000 }, async () => {
    await freshForm();
    await form().getByRole('textbox', { name: 'Positive prompt' }).fill('a harbour');
    await form().getByLabel('Hires fix: upscale, then refine').check();
    await form().getByLabel('Upscale by').fill('1.5');
    await form().getByLabel('Refine strength').fill('0.5');
    await generate().click();
    const thread = await threadOf();
    assert.equal(thread.ai_version_code, 'stablediffusion_text2img');
    const response = await waitForResult(thread.guid);
    assert.equal(response.error, null);
    const request = (await entries(thread.guid)).find((e) => e.type === 'request');
    assert.deepEqual((request?.content as { hires?: { scale: number; strength: number } }).hires?.scale, 1.5);
    const [w, h] = String(request?.content.resolution).split('x').map(Number);
    const [ow, oh] = String((response.content as unknown as { dimensions: string }[])[0].dimensions).split('x').map(Number);
    assert.ok(Math.abs(ow - w * 1.5) <= 64 && Math.abs(oh - h * 1.5) <= 64, `${ow}x${oh} is about 1.5 × ${w}x${h}`);
  });

  it('takes an init image dropped on the form', async () => {
    await freshForm();
    const b64 = initPng.toString('base64');
    // Browser side (the casts stand in for the DOM types this Node project does not load).
    type Transfer = { items: { add(file: unknown): void } };
    type BrowserGlobals = { DataTransfer: new () => Transfer; File: new (parts: unknown[], name: string, options: { type: string }) => unknown };
    const drop = await page.evaluateHandle((data) => {
      const g = globalThis as unknown as BrowserGlobals;
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const transfer = new g.DataTransfer();
      transfer.items.add(new g.File([bytes], 'dropped.png', { type: 'image/png' }));
      return transfer;
    }, b64);
    await page.getByTestId('image-input').dispatchEvent('drop', { dataTransfer: drop });
    await form().getByRole('img', { name: 'Init image: dropped.png' }).waitFor();
  });

  it('raised no script errors or CSP violations', () => {
    assert.deepEqual(errors, []);
  });
});
