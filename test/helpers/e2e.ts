/**
 * Helpers for tests that run the real program: CLI invocations and `sdapi serve` / `sdapi worker` child processes
 * on loopback. `{ holdGeneration: true }` starts them through the test-only entry script (test/helpers/sdapi-test.ts),
 * whose generations wait until the job is aborted or the process dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../../src/config/project-root.ts';

export const BIN = join(projectRoot, 'bin/sdapi.js');
export const TEST_ENTRY = join(projectRoot, 'test/helpers/sdapi-test.ts');

export interface ProcessOptions {
  /** Run through the test entry script with every generation held (the job stays `running`). */
  holdGeneration?: boolean;
  /** Hold every generation and let one through per WorkerProcess.releaseOne() (stdin lines to the test entry script). */
  stepGeneration?: boolean;
}

/** The node arguments that start `sdapi <args>`: the real binary, or the test entry script with held generations. */
function sdapiArgs(args: string[], options: ProcessOptions): string[] {
  if (options.stepGeneration) return ['--import', 'tsx', TEST_ENTRY, '--step-generation', ...args];
  return options.holdGeneration ? ['--import', 'tsx', TEST_ENTRY, '--hold-generation', ...args] : [BIN, ...args];
}

/** The default model when it has been built, else the tiny fixture (SDAPI_TEST_MODEL_DIR overrides both). */
export function e2eModelEnv(): NodeJS.ProcessEnv {
  if (process.env.SDAPI_TEST_MODEL_DIR) return { SDAPI_MODEL_DIR: process.env.SDAPI_TEST_MODEL_DIR };
  if (existsSync(join(projectRoot, 'models/demo/model_index.json'))) return {};
  return { SDAPI_MODEL_DIR: join(projectRoot, 'models/tiny/sd1') };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // A developer's .env in the checkout must not leak into the tests: SDAPI_ENV_FILE=none unless a test sets it.
    const child = spawn(cmd, args, { cwd: projectRoot, env: { ...process.env, SDAPI_ENV_FILE: 'none', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function cli(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [BIN, ...args], env);
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL (kill -9) and wait for exit. */
  kill9(): Promise<void>;
}

/**
 * stop(): SIGTERM, then SIGKILL after 30 s (after the process's own 20 s stop deadline, which logs what it waited
 * for); kill9(): SIGKILL at once. Both wait for the exit.
 */
function stoppers(child: ChildProcess, exited: Promise<void>): { stop(): Promise<void>; kill9(): Promise<void> } {
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    async stop() {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function startServe(env: NodeJS.ProcessEnv, port: number, options: ProcessOptions = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, sdapiArgs(['serve'], options), {
    cwd: projectRoot,
    // Tests poll every 50–100 ms, faster than the default rate limit allows a client; the seed-client test sets the default.
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', SDAPI_ENV_FILE: 'none', SDAPI_RATE_LIMIT: '100000/10s', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sdapi serve exited early (${child.exitCode}): ${out}`);
    try {
      // The body is read: an unread body (the OpenAPI document is 246 kB) keeps its connection busy, and a
      // stopping server waits for the responses it is still sending.
      const res = await fetch(`${url}/healthz`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sdapi serve did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    url,
    output: () => out,
    ...stoppers(child, exited),
  };
}

export async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any; headers: Headers }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { accept: 'application/json', authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL (kill -9) and wait for exit. */
  kill9(): Promise<void>;
  /** With `stepGeneration`: lets the process's oldest held generation finish (or its next one, if none is held yet). */
  releaseOne(): void;
}

/** Starts `sdapi worker` and waits until its loops run (the "sdapi worker is running" log line). */
export async function startWorker(env: NodeJS.ProcessEnv, args: string[] = [], options: ProcessOptions = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, sdapiArgs(['worker', ...args], options), {
    cwd: projectRoot,
    env: { ...process.env, LOG_LEVEL: 'info', SDAPI_ENV_FILE: 'none', ...env },
    stdio: [options.stepGeneration ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('sdapi worker is running')) {
    if (child.exitCode !== null) throw new Error(`sdapi worker exited early (${child.exitCode}): ${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`sdapi worker did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    output: () => out,
    ...stoppers(child, exited),
    releaseOne() {
      if (!child.stdin) throw new Error('releaseOne() needs a worker started with { stepGeneration: true }');
      child.stdin.write('release\n');
    },
  };
}
