/**
 * diffusers' `from_config` rule for our schedulers: a scheduler class accepts a fixed set of keys (its constructor
 * arguments); keys it does not accept are dropped, missing (or null) keys take *that class's* default
 * (docs/engine-reference.md §4.8: "Euler from the SD1.5 config" is `linspace`, because PNDM's config has no
 * `timestep_spacing`).
 */
import { EngineError } from '../errors.ts';
import type { PredictionType, SchedulerConfig } from './types.ts';

/** A class's defaults; the value types double as the expected JSON types. `null` means "optional, any type". */
export type ConfigDefaults = Readonly<Record<string, number | string | boolean | null>>;

/** The resolved config: literal defaults widened to their JSON type, `null` defaults to `unknown`. */
export type Resolved<D extends ConfigDefaults> = {
  -readonly [K in keyof D]: D[K] extends string ? string : D[K] extends number ? number : D[K] extends boolean ? boolean : unknown;
};

/** Training-schedule keys shared by every class (diffusers constructor defaults unless a class overrides them). */
export const TRAIN_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
} as const satisfies ConfigDefaults;

/**
 * Keeps the keys `defaults` declares, taking each from `config` when present and not null, else the default.
 * @throws {EngineError} `invalid_argument` when a present value has the wrong JSON type.
 */
export function resolveConfig<D extends ConfigDefaults>(
  className: string,
  defaults: D,
  config: SchedulerConfig,
): Resolved<D> {
  const out: Record<string, unknown> = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const value = Object.prototype.hasOwnProperty.call(config, key) ? config[key] : undefined;
    if (value === undefined || value === null) {
      out[key] = fallback;
      continue;
    }
    if (fallback !== null && typeof value !== typeof fallback) {
      throw new EngineError(
        'invalid_argument',
        `Cannot build ${className}: '${key}' must be a ${typeof fallback}: current value is ${JSON.stringify(value)}`,
      );
    }
    out[key] = value;
  }
  return out as Resolved<D>;
}

/** Checks that a resolved string option is one of `allowed`. */
export function checkOneOf(className: string, key: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value)) {
    throw new EngineError(
      'invalid_argument',
      `Cannot build ${className}: '${key}' must be one of ${allowed.join(', ')}: current value is ${JSON.stringify(value)}`,
    );
  }
}

/** Checks the common numeric keys and returns `trained_betas` as numbers (or null). */
export function checkTrainConfig(
  className: string,
  config: { num_train_timesteps: number; beta_start: number; beta_end: number; trained_betas: unknown },
): readonly number[] | null {
  const T = config.num_train_timesteps;
  if (!Number.isInteger(T) || T < 2) {
    throw new EngineError(
      'invalid_argument',
      `Cannot build ${className}: 'num_train_timesteps' must be an integer >= 2: current value is ${T}`,
    );
  }
  for (const key of ['beta_start', 'beta_end'] as const) {
    const v = config[key];
    if (!Number.isFinite(v) || v < 0 || v >= 1) {
      throw new EngineError('invalid_argument', `Cannot build ${className}: '${key}' must be in [0, 1): current value is ${v}`);
    }
  }
  const tb = config.trained_betas;
  if (tb === null) return null;
  if (!Array.isArray(tb) || !tb.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new EngineError(
      'invalid_argument',
      `Cannot build ${className}: 'trained_betas' must be an array of numbers or null: current value is ${JSON.stringify(tb).slice(0, 80)}`,
    );
  }
  return tb as number[];
}

/**
 * Checks an inference step count against the training schedule.
 * @throws {EngineError} `invalid_argument` unless 1 <= steps <= num_train_timesteps (integer).
 */
export function checkSteps(className: string, steps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new EngineError('invalid_argument', `Cannot schedule ${className}: steps must be an integer >= 1: current value is ${steps}`);
  }
  if (steps > numTrainTimesteps) {
    throw new EngineError(
      'invalid_argument',
      `Cannot schedule ${className}: steps must not exceed num_train_timesteps (${numTrainTimesteps}): current value is ${steps}`,
    );
  }
}

/** The training keys and `prediction_type` every class declares (LCM with its own training defaults). */
type SchedulerDefaults = ConfigDefaults & {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: null;
  prediction_type: string;
};

/**
 * The checks every scheduler constructor starts with, in this order: `resolveConfig`, `checkTrainConfig`,
 * `checkSteps`, then `prediction_type` against `predictionTypes`.
 * @returns the resolved config with `trained_betas` validated, ready for `trainSchedule`
 * @throws {EngineError} `invalid_argument` from the first check that fails
 */
export function resolveSchedulerConfig<D extends SchedulerDefaults>(
  className: string,
  defaults: D,
  config: SchedulerConfig,
  steps: number,
  predictionTypes: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'],
): Omit<Resolved<D>, 'trained_betas' | 'prediction_type'> & {
  trained_betas: readonly number[] | null;
  prediction_type: PredictionType;
} {
  const c = resolveConfig(className, defaults, config);
  const train = c as Resolved<SchedulerDefaults>;
  const trainedBetas = checkTrainConfig(className, train);
  checkSteps(className, steps, train.num_train_timesteps);
  checkOneOf(className, 'prediction_type', train.prediction_type, predictionTypes);
  return { ...c, trained_betas: trainedBetas, prediction_type: train.prediction_type as PredictionType };
}
