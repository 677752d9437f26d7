/**
 * LCM guidance embedding (docs/engine-reference.md §5.2; diffusers `get_guidance_scale_embedding`): LCM UNets take the
 * guidance scale as a sinusoidal `timestep_cond` vector instead of running classifier-free guidance.
 */
import { EngineError } from '../errors.ts';

/**
 * Sinusoidal embedding of w = (guidanceScale − 1)·1000: `[sin(w·f_0..f_{h−1}), cos(w·f_0..f_{h−1})]` with
 * h = ⌊dim/2⌋ and f_k = exp(−k·ln(10000)/(h−1)), zero-padded by one when `dim` is odd. Computed in float32 ops
 * like diffusers' torch code.
 * @param dim the UNet's `time_cond_proj_dim` (256 for LCM Dreamshaper v7)
 * @throws {EngineError} `invalid_argument` for a non-finite scale or a dim < 4
 * @example lcmGuidanceEmbedding(8.5, 256)[0] ≈ -0.8512359
 */
export function lcmGuidanceEmbedding(guidanceScale: number, dim: number): Float32Array {
  if (!Number.isFinite(guidanceScale)) {
    throw new EngineError('invalid_argument', `Cannot embed the LCM guidance scale: it must be finite: current value is ${guidanceScale}`);
  }
  if (!Number.isInteger(dim) || dim < 4) {
    throw new EngineError('invalid_argument', `Cannot embed the LCM guidance scale: dim must be an integer >= 4: current value is ${dim}`);
  }
  const f32 = Math.fround;
  const w = f32(f32(guidanceScale - 1) * 1000);
  const half = Math.floor(dim / 2);
  const step = f32(Math.log(10000) / (half - 1));
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const freq = f32(Math.exp(f32(-k * step)));
    const arg = f32(w * freq);
    out[k] = Math.sin(arg);
    out[half + k] = Math.cos(arg);
  }
  return out;
}
