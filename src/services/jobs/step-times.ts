/**
 * Recent denoising step times per engine in this worker process (an exponentially weighted mean), for the
 * `eta_seconds` of running requests: remaining steps × the engine's recent time per step.
 */
export class StepTimes {
  readonly #msPerStep = new Map<string, number>();

  constructor(private readonly weight = 0.2) {}

  /** Records that `steps` steps of `engine` took `ms`. */
  record(engine: string, steps: number, ms: number): void {
    if (steps <= 0 || !(ms >= 0)) return;
    const sample = ms / steps;
    const previous = this.#msPerStep.get(engine);
    this.#msPerStep.set(engine, previous === undefined ? sample : previous + this.weight * (sample - previous));
  }

  /** Seconds for `remainingSteps` more steps, or null before the engine's first measured step. */
  eta(engine: string, remainingSteps: number): number | null {
    const ms = this.#msPerStep.get(engine);
    return ms === undefined ? null : Math.max(0, Math.round((ms * remainingSteps) / 1000));
  }
}
