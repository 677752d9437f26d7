/**
 * Which size to generate for a requested size. Without upscaling the request is generated as is (it must fit the
 * model's latent multiple); with upscaling the model works at its native area in the requested aspect ratio and the
 * caller resizes the result to the target (the engine never resizes images).
 */
import { EngineError } from '../errors.ts';
import type { ModelManifest } from '../model/types.ts';

export interface SizePlan {
  /** The size to generate (pass to generate()). */
  width: number;
  height: number;
  /** The size the caller asked for. */
  targetWidth: number;
  targetHeight: number;
  /** True when the generated image must be resized to the target (up or down). */
  resize: boolean;
}

/**
 * @throws {EngineError} `invalid_argument` for a size that is not a positive integer, or (without upscale) not a
 *   multiple of the model's latentMultiple
 * @example planSize(sd15, { width: 1024, height: 1024 }, { upscale: true }) → 512×512, target 1024×1024, resize
 */
export function planSize(
  manifest: Pick<ModelManifest, 'nativeWidth' | 'nativeHeight' | 'latentMultiple'>,
  requested: { width: number; height: number },
  options: { upscale: boolean },
): SizePlan {
  const { width, height } = requested;
  const m = manifest.latentMultiple;
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new EngineError('invalid_argument', `Cannot plan the size: ${name} must be a positive integer, got ${String(value)}`);
  }
  if (!options.upscale) {
    if (width % m !== 0 || height % m !== 0) {
      throw new EngineError('invalid_argument', `Cannot generate ${width}×${height}: width and height must be multiples of ${m} for this model, got ${width}×${height}`);
    }
    return { width, height, targetWidth: width, targetHeight: height, resize: false };
  }
  // Same pixel count as the native size, the requested aspect ratio, each side rounded to the latent multiple.
  const area = manifest.nativeWidth * manifest.nativeHeight;
  const aspect = width / height;
  const round = (value: number): number => Math.max(m, Math.round(value / m) * m);
  const plan = { width: round(Math.sqrt(area * aspect)), height: round(Math.sqrt(area / aspect)), targetWidth: width, targetHeight: height };
  return { ...plan, resize: plan.width !== width || plan.height !== height };
}
