/**
 * Scheduler registry: sampler name ↔ diffusers scheduler class, built with diffusers' `from_config` rule
 * (keys the class does not accept are dropped, missing keys take that class's defaults; docs/engine-reference.md §4.8).
 */
import { EngineError } from '../errors.ts';
import { DdimScheduler } from './ddim.ts';
import { DpmSolverMultistepScheduler } from './dpm-solver-multistep.ts';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral.ts';
import { EulerDiscreteScheduler } from './euler.ts';
import { LcmScheduler } from './lcm.ts';
import { LmsDiscreteScheduler } from './lms.ts';
import { PndmScheduler } from './pndm.ts';
import { SAMPLER_NAMES, type SamplerName, type Scheduler, type SchedulerConfig } from './types.ts';

export type { PredictionType, SamplerName, Scheduler, SchedulerConfig, StepResult, TimestepSpacing } from './types.ts';
export { SAMPLER_NAMES } from './types.ts';
export { DdimScheduler } from './ddim.ts';
export { DpmSolverMultistepScheduler } from './dpm-solver-multistep.ts';
export { EulerAncestralDiscreteScheduler } from './euler-ancestral.ts';
export { EulerDiscreteScheduler } from './euler.ts';
export { LcmScheduler, lcmOriginCount } from './lcm.ts';
export { LmsDiscreteScheduler } from './lms.ts';
export { PndmScheduler } from './pndm.ts';

/** diffusers class name of each sampler. */
export const SAMPLER_CLASS_NAMES: Readonly<Record<SamplerName, string>> = {
  euler: 'EulerDiscreteScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  ddim: 'DDIMScheduler',
  dpmpp_2m: 'DPMSolverMultistepScheduler',
  dpmpp_2m_karras: 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
  pndm: 'PNDMScheduler',
  lms: 'LMSDiscreteScheduler',
};

/**
 * The sampler a model's scheduler_config.json describes (`_class_name`; DPM-Solver with `use_karras_sigmas` is
 * `dpmpp_2m_karras`).
 * @throws {EngineError} `invalid_argument` when `_class_name` is missing or not a supported scheduler
 * @example samplerFromConfig({ _class_name: 'PNDMScheduler' }) === 'pndm'
 */
export function samplerFromConfig(config: SchedulerConfig): SamplerName {
  const className = config._class_name;
  switch (className) {
    case 'EulerDiscreteScheduler':
      return 'euler';
    case 'EulerAncestralDiscreteScheduler':
      return 'euler_a';
    case 'DDIMScheduler':
      return 'ddim';
    case 'DPMSolverMultistepScheduler':
      return config.use_karras_sigmas === true ? 'dpmpp_2m_karras' : 'dpmpp_2m';
    case 'LCMScheduler':
      return 'lcm';
    case 'PNDMScheduler':
      return 'pndm';
    case 'LMSDiscreteScheduler':
      return 'lms';
    default:
      throw new EngineError(
        'invalid_argument',
        `Cannot pick a sampler from the scheduler config: _class_name must be one of ${[...new Set(Object.values(SAMPLER_CLASS_NAMES))].join(', ')}: current value is ${JSON.stringify(className)}`,
      );
  }
}

/**
 * Builds a ready-to-run scheduler for `steps` inference steps.
 *
 * @param name the sampler; undefined → the model's own (`samplerFromConfig(config)`)
 * @param config the model's scheduler_config.json; when `name` picks another class, only the keys that class accepts
 *   are used and missing keys take that class's defaults (e.g. Euler on the SD1.5 PNDM config uses `linspace`)
 * @param steps number of denoising steps (PNDM evaluates the model steps+1 times: use `scheduler.timesteps.length`)
 * @param options `eta` for DDIM (default 0); `strength` for LCM's image-to-image schedule (default 1, see LcmScheduler;
 *   the other samplers take image-to-image as a begin index into their full schedule, pipeline/strength.ts)
 * @throws {EngineError} `invalid_argument` for an unknown sampler or class name, steps < 1 or > num_train_timesteps,
 *   or an unsupported config value
 * @example
 * const scheduler = createScheduler('euler', sd15SchedulerConfig, 30);
 * let latents = noise.randn(4 * 64 * 64).map((v) => v * scheduler.initNoiseSigma);
 */
export function createScheduler(
  name: SamplerName | undefined,
  config: SchedulerConfig,
  steps: number,
  options: { eta?: number; strength?: number } = {},
): Scheduler {
  if (config === null || typeof config !== 'object') {
    throw new EngineError('invalid_argument', `Cannot build a scheduler: config must be an object: current value is ${JSON.stringify(config)}`);
  }
  const sampler = name ?? samplerFromConfig(config);
  switch (sampler) {
    case 'euler':
      return new EulerDiscreteScheduler(config, steps);
    case 'euler_a':
      return new EulerAncestralDiscreteScheduler(config, steps);
    case 'ddim':
      return new DdimScheduler(config, steps, { eta: options.eta });
    case 'dpmpp_2m':
      return new DpmSolverMultistepScheduler({ ...config, use_karras_sigmas: false }, steps);
    case 'dpmpp_2m_karras':
      return new DpmSolverMultistepScheduler(
        { ...config, use_karras_sigmas: true, use_exponential_sigmas: false, use_beta_sigmas: false },
        steps,
      );
    case 'lcm':
      return new LcmScheduler(config, steps, { strength: options.strength });
    case 'pndm':
      return new PndmScheduler(config, steps);
    case 'lms':
      return new LmsDiscreteScheduler(config, steps);
    default:
      throw new EngineError(
        'invalid_argument',
        `Cannot build a scheduler: sampler must be one of ${SAMPLER_NAMES.join(', ')}: current value is ${JSON.stringify(sampler)}`,
      );
  }
}
