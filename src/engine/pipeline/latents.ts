/** Initial latents as diffusers draws them: randn(1, 4, H/8, W/8) in float32, times init_noise_sigma. */
import type { NoiseSource } from '../noise/types.ts';

export const LATENT_CHANNELS = 4;
export const VAE_SCALE = 8;

export function latentDims(width: number, height: number): [number, number, number, number] {
  return [1, LATENT_CHANNELS, height / VAE_SCALE, width / VAE_SCALE];
}

export function initialLatents(noise: NoiseSource, count: number, initNoiseSigma: number): Float32Array {
  const latents = noise.randn(count);
  // A float32 tensor times a Python float stays float32 in torch: round each product.
  if (initNoiseSigma !== 1) for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i] * initNoiseSigma);
  return latents;
}
