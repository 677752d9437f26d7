/**
 * Wake-ups across processes through Redis: notify() pushes a token onto one list, and idle workers of every process
 * block on it (BLPOP), so the worker that pops the token claims the job at once instead of polling. A token is a
 * hint, never a job: while Redis is unreachable, wait() falls back to sleeping the idle interval (the worker then
 * polls the database), so Redis going away never loses or duplicates a job.
 */
import { Redis } from 'ioredis';
import type { WorkNotifier } from './work-notifier.ts';

export interface RedisNotifierOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Key prefix, so several installations (or test runs) can share one Redis. */
  prefix?: string;
}

/** Tokens kept at most; more than the number of idle workers is never useful. */
const MAX_TOKENS = 1024;
/** The token list expires when nothing touches it for a day (no keys left behind by removed installations). */
const TOKEN_TTL_MS = 24 * 3600 * 1000;

export class RedisNotifier implements WorkNotifier {
  /** The Redis list holding wake-up tokens. */
  readonly wakeKey: string;
  readonly #url: string;
  readonly #commands: Redis;
  /** Blocking connections (one BLPOP each), idle ones kept for the next wait. */
  readonly #idle: Redis[] = [];
  readonly #all = new Set<Redis>();
  #closed = false;
  #lastError: Error | undefined;

  constructor(options: RedisNotifierOptions) {
    this.#url = options.url;
    this.wakeKey = `${options.prefix ?? 'sdapi'}:queue:wake`;
    this.#commands = this.#connect('commands');
  }

  /** The last Redis connection error seen, for diagnostics. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** One PING on the command connection: rejects while Redis is unreachable (readiness, the start-up check). */
  async ping(): Promise<void> {
    await this.#commands.ping();
  }

  notify(): void {
    if (this.#closed) return;
    this.#commands
      .multi()
      .lpush(this.wakeKey, '1')
      .ltrim(this.wakeKey, 0, MAX_TOKENS - 1)
      .pexpire(this.wakeKey, TOKEN_TTL_MS)
      .exec()
      .catch((err: Error) => (this.#lastError = err));
  }

  async wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.#closed) return;
    const conn = this.#idle.pop() ?? this.#connect('blocking');
    let abandoned = false;
    // An aborted wait drops its connection: that is the only way to end a BLPOP early.
    const onAbort = () => {
      abandoned = true;
      conn.disconnect();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await conn.blpop(this.wakeKey, Math.max(0.01, timeoutMs / 1000));
    } catch (err) {
      if (!abandoned && !this.#closed) {
        this.#lastError = err instanceof Error ? err : new Error(String(err));
        await sleep(timeoutMs, signal); // Redis unreachable: the worker polls the database at the idle interval
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (abandoned || this.#closed || conn.status !== 'ready') this.#drop(conn);
      else this.#idle.push(conn);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [...this.#all]) this.#drop(conn);
    await this.#commands.quit().catch(() => this.#commands.disconnect());
  }

  #connect(role: 'commands' | 'blocking'): Redis {
    const conn = new Redis(this.#url, {
      connectionName: `sdapi-${role}`,
      // Fail fast instead of queueing commands for long while Redis is down; the database keeps the jobs.
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    conn.on('error', (err: Error) => (this.#lastError = err));
    if (role === 'blocking') this.#all.add(conn);
    return conn;
  }

  #drop(conn: Redis): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    conn.disconnect();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
