/**
 * Image → latents through vae_encoder/model.onnx (docs/engine-reference.md §6.3, §6.6, §7.6).
 *
 * Two output conventions exist. `latent_sample` (diffusers' script, optimum ≤ 1.22) is already sampled inside the
 * graph (RandomNormalLike, ONNX Runtime's own unseeded generator), so the engine uses it as is and draws nothing.
 * `latent_parameters` (optimum ≥ 1.23) is [mean ‖ log-variance]; the engine samples it the way diffusers'
 * DiagonalGaussianDistribution.sample(generator) does, with the image's torch generator. Either way the sample is
 * multiplied by the VAE scaling factor.
 */
import { EngineError } from '../errors.ts';
import { floatType, requireTensor } from '../model/inspect.ts';
import type { VaeModel } from '../model/types.ts';
import type { NoiseSource } from '../noise/types.ts';
import { LATENT_CHANNELS } from './latents.ts';
import { floatFeed, outputFloat32 } from './feeds.ts';

const f32 = Math.fround;
const WHERE = 'vae_encoder/model.onnx';

/** What the encoder returned for one image. */
export interface EncodedImage {
  convention: 'latent_sample' | 'latent_parameters';
  /** latent_sample: [4, h, w]; latent_parameters: [8, h, w] (mean planes, then log-variance planes). */
  values: Float32Array;
}

/**
 * 8-bit RGB (HWC) → the encoder's input planes (CHW) in [−1, 1]: f32(2 · f32(p / 255) − 1), as diffusers'
 * pil_to_numpy (float32 / 255) followed by normalize (2x − 1).
 */
export function rgbToSample(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = 2 * f32(rgb[p * 3 + c] / 255) - 1;
  }
  return out;
}

/** diffusers' inpainting `masked_image = image * (mask < 0.5)`: the repainted pixels become 0 (mid grey). */
export function maskSample(sample: Float32Array, maskPixels: Float32Array): Float32Array {
  const plane = maskPixels.length;
  const out = new Float32Array(sample.length);
  for (let c = 0; c < sample.length / plane; c++) {
    for (let p = 0; p < plane; p++) out[c * plane + p] = maskPixels[p] < 0.5 ? sample[c * plane + p] : 0;
  }
  return out;
}

/**
 * Runs the encoder on one image's planes [3, height, width].
 * @throws {EngineError} `model_invalid` for an encoder without a float `sample` input or with an output of the wrong
 *   shape, `runtime_error` for NaN output
 */
export async function encodeImage(
  encoder: NonNullable<VaeModel['encoder']>,
  sample: Float32Array,
  width: number,
  height: number,
  vaeScaleFactor: number,
): Promise<EncodedImage> {
  const { session, output } = encoder;
  const inputType = floatType(requireTensor(session.inputs, 'sample', WHERE, 'input'), WHERE);
  const outputs = await session.run({ sample: floatFeed(sample, [1, 3, height, width], inputType) }, [output]);
  const values = outputFloat32(outputs, output, WHERE);
  const channels = output === 'latent_parameters' ? 2 * LATENT_CHANNELS : LATENT_CHANNELS;
  const expected = [1, channels, height / vaeScaleFactor, width / vaeScaleFactor];
  const dims = outputs[output].dims;
  if (dims.length !== 4 || dims.some((d, i) => d !== expected[i])) {
    throw new EngineError('model_invalid', `${WHERE}: ${output} has shape [${dims.join(', ')}] for a ${width}×${height} image, expected [${expected.join(', ')}]`);
  }
  if (values.some(Number.isNaN)) {
    // As with the decoder, the classic cause is an fp16 SDXL VAE without the fp16 fix.
    throw new EngineError('runtime_error', 'The VAE encoder produced NaN values (an fp16 VAE that overflows? use an fp32 or fp16-fixed VAE)');
  }
  return { convention: output, values };
}

/**
 * The scaled latents of an encoded image: scaling_factor × sample, where sample is the encoder's latent_sample, or
 * mean + exp(½ · clamp(logvar, −30, 20)) · ε with ε = one randn draw of 4·h·w values from `noise` (diffusers'
 * DiagonalGaussianDistribution.sample), float32 op by op. Only latent_parameters draws.
 */
export function sampleLatents(encoded: EncodedImage, noise: NoiseSource, scalingFactor: number): Float32Array {
  const scale = f32(scalingFactor);
  if (encoded.convention === 'latent_sample') return encoded.values.map((v) => f32(scale * v));
  const count = encoded.values.length / 2;
  const eps = noise.randn(count);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const logvar = Math.min(Math.max(encoded.values[count + i], -30), 20);
    const std = f32(Math.exp(f32(0.5 * logvar)));
    out[i] = f32(scale * f32(encoded.values[i] + f32(std * eps[i])));
  }
  return out;
}

/** Advances `noise` as sampleLatents would, without the latents (diffusers encodes the masked image even for 4-channel UNets). */
export function skipLatentDraw(encoded: Pick<EncodedImage, 'convention'>, count: number, noise: NoiseSource): void {
  if (encoded.convention === 'latent_parameters') noise.randn(count);
}
