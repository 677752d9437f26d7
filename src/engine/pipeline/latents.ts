/** Initial latents as diffusers draws them: randn(1, 4, H/s, W/s) in float32 (s = VAE scale factor), times init_noise_sigma. */
import type { NoiseSource } from '../noise/types.ts';

export const LATENT_CHANNELS = 4;

export function latentDims(width: number, height: number, vaeScaleFactor: number): [number, number, number, number] {
  return [1, LATENT_CHANNELS, height / vaeScaleFactor, width / vaeScaleFactor];
}

export function initialLatents(noise: NoiseSource, count: number, initNoiseSigma: number): Float32Array {
  const latents = noise.randn(count);
  // A float32 tensor times a Python float stays float32 in torch: round each product.
  if (initNoiseSigma !== 1) for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i] * initNoiseSigma);
  return latents;
}
