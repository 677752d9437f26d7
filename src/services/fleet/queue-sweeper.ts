/**
 * The periodic sweep any process may run (API or worker; several at once are safe): a request whose engine no
 * worker served for SDAPI_QUEUE_TIMEOUT fails with a clear message and is refunded (EntryService.expireUnserved),
 * and the rows of workers that died long ago are deleted.
 */
import { silentLogger, type OperationalLogger } from '../../domain/logger.ts';
import type { EntryService } from '../entries/entry-service.ts';
import type { FleetStatus } from './fleet-status.ts';

export interface QueueSweeperDeps {
  entries: EntryService;
  fleet: FleetStatus;
  /** How long a request may wait for an engine no worker serves. */
  timeoutMs: number;
  /** Time between sweeps (default: a quarter of the timeout, between 1 s and 1 min). */
  intervalMs?: number;
  logger?: OperationalLogger;
}

/** Rows of workers silent this long are deleted (kept that long so that `timeoutMs` can look back at them). */
const FORGET_AFTER_MIN_MS = 3_600_000;

export class QueueSweeper {
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;
  readonly #log: OperationalLogger;

  constructor(private readonly deps: QueueSweeperDeps) {
    this.#log = deps.logger ?? silentLogger;
  }

  get intervalMs(): number {
    return this.deps.intervalMs ?? Math.min(60_000, Math.max(1000, Math.floor(this.deps.timeoutMs / 4)));
  }

  /** One sweep; returns how many requests it failed. */
  sweep(): Promise<number> {
    this.#sweeping ??= (async () => {
      try {
        const { timeoutMs, fleet, entries } = this.deps;
        const served = await fleet.enginesServedWithin(timeoutMs);
        const expired = await entries.expireUnserved({ timeoutMs, servedEngines: served });
        if (expired > 0) this.#log.warn({ expired, servedEngines: served }, 'failed and refunded requests whose engine no worker served');
        await fleet.forgetSilentWorkers(Math.max(timeoutMs, FORGET_AFTER_MIN_MS));
        return expired;
      } catch (err) {
        this.#log.error({ err }, 'the queue sweep failed; it runs again later');
        return 0;
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }
}
