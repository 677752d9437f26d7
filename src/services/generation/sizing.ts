/**
 * Output size planning. A requested size above the model's native area is generated at the native
 * area with the requested aspect ratio (sides rounded to multiples of 8) and upscaled afterwards.
 */
export interface SizePlan {
  /** Size the engine generates. */
  width: number;
  height: number;
  /** Size delivered to the caller. */
  targetWidth: number;
  targetHeight: number;
  upscaled: boolean;
}

export function planSize(target: { width: number; height: number }, native: { width: number; height: number }): SizePlan {
  const nativeArea = native.width * native.height;
  if (target.width * target.height <= nativeArea) {
    return { width: roundTo8(target.width), height: roundTo8(target.height), targetWidth: target.width, targetHeight: target.height, upscaled: roundTo8(target.width) !== target.width || roundTo8(target.height) !== target.height };
  }
  const aspect = target.width / target.height;
  const width = roundTo8(Math.sqrt(nativeArea * aspect));
  const height = roundTo8(Math.sqrt(nativeArea / aspect));
  return { width, height, targetWidth: target.width, targetHeight: target.height, upscaled: true };
}

function roundTo8(value: number): number {
  return Math.max(8, Math.round(value / 8) * 8);
}
