/** VAE decoding and image postprocessing (docs/engine-reference.md §6.1, §6.2). */
import { EngineError } from '../errors.ts';
import type { VaeModel } from '../model/types.ts';
import { floatFeed, outputFloat32 } from './feeds.ts';

/** Decodes one image's latents [1, 4, h, w] to the decoder's [1, 3, s·h, s·w] output (s = VAE scale factor) in ≈[-1, 1]. */
export async function decodeLatents(vae: VaeModel, latents: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const scale = Math.fround(vae.scalingFactor);
  const z = new Float32Array(latents.length);
  for (let i = 0; i < z.length; i++) z[i] = latents[i] / scale;
  const outputs = await vae.decoder.run({ latent_sample: floatFeed(z, dims, vae.decoderInputType) }, ['sample']);
  const sample = outputFloat32(outputs, 'sample', 'vae_decoder/model.onnx');
  for (let i = 0; i < sample.length; i++) {
    if (Number.isNaN(sample[i])) {
      // The classic cause is an fp16 SDXL VAE without the fp16 fix (activations overflow).
      throw new EngineError('runtime_error', 'The VAE decoder produced NaN values (an fp16 VAE that overflows? use an fp32 or fp16-fixed VAE)');
    }
  }
  return sample;
}

/** numpy round: half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * CHW float in [-1, 1] -> HWC uint8: round(clamp(x/2 + 0.5, 0, 1)·255) with float32 arithmetic and
 * round-half-to-even, as diffusers' denormalize + numpy_to_pil.
 */
export function toRgb(sample: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  const rgb = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const base = c * plane;
    for (let p = 0; p < plane; p++) {
      let v = Math.fround(sample[base + p] / 2 + 0.5);
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      rgb[p * 3 + c] = roundHalfEven(Math.fround(v * 255));
    }
  }
  return rgb;
}
