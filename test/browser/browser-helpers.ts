/**
 * What the browser tests share: one `sdapi serve` child process per file (temp data dir, free loopback port, the
 * test entry script so generations can be slowed down), one Chromium per file (Debian's, driven by playwright-core),
 * and the page checks every page gets: no horizontal overflow, and no serious or critical axe-core violations.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { freePort } from '../helpers/e2e.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHROMIUM = '/usr/bin/chromium';
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const SKIP_BROWSER = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)`;

const CHROMIUM_ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface TestServer {
  base: string;
  dataDir: string;
  log(): string;
  stop(): Promise<void>;
}

/** `sdapi serve` through the test entry script; `delayMs` holds every generation that long (the live status stays visible). */
export async function startTestServer(options: { delayMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdapi-ui-data-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: String(port), SDAPI_DATA_DIR: dataDir, SDAPI_SIGNUP_CREDITS: '1000', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', SDAPI_ENV_FILE: 'none', ...options.env };
  delete env.SDAPI_DATABASE_URL;
  delete env.DATABASE_URL;
  delete env.SDAPI_PUBLIC_URL;
  if (!process.env.SDAPI_MODEL_DIR && !existsSync(join(ROOT, 'models/demo/model_index.json'))) env.SDAPI_MODEL_DIR = join(ROOT, 'models/tiny/sd1');
  const args = ['--import', 'tsx', 'test/helpers/sdapi-test.ts', ...(options.delayMs ? ['--delay-generation', String(options.delayMs)] : []), 'serve'];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${base}/`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server did not answer at ${base}:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    dataDir,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A new context and page that record script errors and CSP violations into `errors`. */
export async function openPage(browser: Browser, errors: string[], options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true, ...options });
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // 4xx answers the UI handles (a wrong password, a 422 it shows at the fields) are not script errors.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  page.setDefaultTimeout(30_000);
  return { context, page };
}

// Browser-side functions are serialized into the page (not eval'd, which the page's CSP forbids), so each is
// self-contained; the casts stand in for the DOM types this Node project does not load.
type Win = { innerWidth: number; document: { documentElement: { scrollWidth: number } } };
const widths = () => {
  const w = globalThis as unknown as Win;
  return [w.document.documentElement.scrollWidth, w.innerWidth];
};

/** The page does not scroll sideways. */
export async function assertNoOverflow(page: Page, label: string): Promise<void> {
  const [scrollWidth, innerWidth] = await page.evaluate(widths);
  assert.ok(scrollWidth <= innerWidth, `${label}: the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`);
}

/** axe-core (WCAG 2.1 A/AA rules and best practices) finds nothing serious or critical. */
export async function assertAccessible(page: Page, label: string, options: { disableRules?: string[] } = {}): Promise<void> {
  const builder = new AxeBuilder({ page }).disableRules(options.disableRules ?? []);
  const result = await builder.analyze();
  assert.ok(result.passes.length > 10, `${label}: axe-core ran its rules (${result.passes.length} passed)`);
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help}\n${v.nodes.slice(0, 5).map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ')}`).join('\n')}`);
  assert.deepEqual(text, [], `${label}: axe-core found ${bad.length} serious or critical violation(s)`);
}
