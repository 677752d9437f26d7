/**
 * Readiness: whether this process can serve, i.e. whether the store (and Redis, where configured) answer. Each check
 * gets a deadline, so a hanging dependency makes the answer "not ready" instead of making the probe time out.
 */
export interface ReadinessCheck {
  /** Shown in the answer: `store`, `redis`. */
  name: string;
  /** Resolves when the dependency answers; rejects (or outlives the deadline) when it does not. */
  check(): Promise<void>;
}

export type CheckOutcome = 'ok' | 'failed';

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckOutcome>;
  /** The errors behind failed checks, for the log only (never sent to the client). */
  errors: Record<string, string>;
}

export class ReadinessService {
  constructor(
    private readonly checks: readonly ReadinessCheck[],
    private readonly timeoutMs = 2000,
  ) {}

  async check(): Promise<Readiness> {
    const results = await Promise.all(this.checks.map(async (c) => [c.name, await this.#run(c)] as const));
    const checks: Record<string, CheckOutcome> = {};
    const errors: Record<string, string> = {};
    for (const [name, error] of results) {
      checks[name] = error === undefined ? 'ok' : 'failed';
      if (error !== undefined) errors[name] = error;
    }
    return { ready: Object.values(checks).every((c) => c === 'ok'), checks, errors };
  }

  async #run(check: ReadinessCheck): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([check.check(), deadline]);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timer);
    }
  }
}
