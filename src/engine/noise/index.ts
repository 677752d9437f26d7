/** Deterministic initial/step noise compatible with the reference implementations (docs/engine-reference.md §7). */
import { EngineError } from '../errors.ts';
import { NumpyRandn } from './numpy-randn.ts';
import { PhiloxRandn } from './philox.ts';
import { TorchCpuRandn } from './torch-randn.ts';
import type { NoiseSource } from './types.ts';

export type { NoiseSource } from './types.ts';
export { Mt19937 } from './mt19937.ts';
export { NumpyRandn } from './numpy-randn.ts';
export { PhiloxRandn } from './philox.ts';
export { TorchCpuRandn } from './torch-randn.ts';

/**
 * Which generator to emulate: `torch` = diffusers torch pipelines with a CPU generator (default),
 * `numpy` = diffusers `OnnxStableDiffusionPipeline`, `philox` = AUTOMATIC1111 "NV" / stable-diffusion.cpp `cuda`.
 */
export type NoiseKind = 'torch' | 'numpy' | 'philox';

export const NOISE_KINDS: readonly NoiseKind[] = ['torch', 'numpy', 'philox'];

/**
 * A fresh generator seeded with `seed`; successive `randn` calls continue one stream, like one torch generator
 * used for the initial latents and then for every ancestral step.
 * @throws {EngineError} `invalid_argument` for an unknown kind or a seed that is not an integer in [0, 2^32 − 1]
 * @example createNoise('torch', 0).randn(16384)[0] === Math.fround(-1.1258398)
 */
export function createNoise(kind: NoiseKind, seed: number): NoiseSource {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new EngineError('invalid_argument', `Cannot seed noise: seed must be an integer in [0, 4294967295]: current value is ${seed}`);
  }
  switch (kind) {
    case 'torch':
      return new TorchCpuRandn(seed);
    case 'numpy':
      return new NumpyRandn(seed);
    case 'philox':
      return new PhiloxRandn(seed);
    default:
      throw new EngineError(
        'invalid_argument',
        `Cannot create noise: kind must be one of ${NOISE_KINDS.join(', ')}: current value is ${JSON.stringify(kind)}`,
      );
  }
}
