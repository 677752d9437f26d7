/**
 * Live previews: a cheap RGB picture of the current x0 prediction (or latents), throttled per request. With
 * vae_approx/model.onnx in the folder it decodes through that small model; otherwise a per-family linear
 * projection latent(4) → RGB plus bias, as A1111's "Approx cheap" and ComfyUI's latent2rgb previews do.
 */
import { EngineError } from '../errors.ts';
import type { LoadedModel, UnetModel, VaeApproxModel } from '../model/types.ts';
import type { PreviewImage, PreviewRequest } from '../types.ts';
import { floatFeed, outputFloat32 } from './feeds.ts';

/** Long side cap of a preview; larger grids are box-averaged down by an integer factor (never upscaled). */
export const PREVIEW_MAX_SIDE = 256;

/** rgb = Σ_c latent[c] · factors[c] + bias, in [-1, 1]. */
export interface LatentRgbProjection {
  factors: ReadonlyArray<readonly [number, number, number]>;
  bias: readonly [number, number, number];
}

// Factors fitted to the SD 1.x/2.x VAE (same latent space) and the SDXL VAE, as published in ComfyUI's
// comfy/latent_formats.py (classes SD15 and SDXL: latent_rgb_factors, latent_rgb_factors_bias) and applied there to
// the sampler's x0 (comfy/latent_preview.py). A1111's modules/sd_vae_approx.py (cheap_approximation) uses older
// fits of the same kind, from https://discuss.huggingface.co/t/decoding-latents-to-rgb-without-upscaling/23204/2.
export const SD_LATENT_RGB: LatentRgbProjection = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

export const SDXL_LATENT_RGB: LatentRgbProjection = {
  factors: [
    [0.3651, 0.4232, 0.4341],
    [-0.2533, -0.0042, 0.1068],
    [0.1076, 0.1111, -0.0362],
    [-0.3165, -0.2492, -0.2188],
  ],
  bias: [0.1084, -0.0175, -0.0011],
};

interface Picture {
  width: number;
  height: number;
  rgb: Uint8Array;
}

function toByte(v: number): number {
  const x = (v + 1) / 2;
  return x <= 0 ? 0 : x >= 1 ? 255 : Math.round(x * 255);
}

/** Integer box factor that brings the long side to at most PREVIEW_MAX_SIDE. */
function boxFactor(height: number, width: number): number {
  return Math.max(1, Math.ceil(Math.max(height, width) / PREVIEW_MAX_SIDE));
}

/**
 * CHW planes → HWC bytes, box-averaging s×s blocks first. `map` turns the averaged channel values of one pixel
 * (in `pixel`) into RGB in [-1, 1] (written to `out`).
 */
function downsample(
  planes: Float32Array,
  channels: number,
  height: number,
  width: number,
  map: (pixel: Float32Array, out: Float32Array) => void,
): Picture {
  const s = boxFactor(height, width);
  const outH = Math.max(1, Math.floor(height / s));
  const outW = Math.max(1, Math.floor(width / s));
  const plane = height * width;
  const pixel = new Float32Array(channels);
  const rgbValue = new Float32Array(3);
  const rgb = new Uint8Array(outH * outW * 3);
  const bh = Math.min(s, height);
  const bw = Math.min(s, width);
  const inv = 1 / (bh * bw);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        const base = c * plane;
        for (let dy = 0; dy < bh; dy++) {
          const row = base + (y * s + dy) * width + x * s;
          for (let dx = 0; dx < bw; dx++) acc += planes[row + dx];
        }
        pixel[c] = acc * inv;
      }
      map(pixel, rgbValue);
      const o = (y * outW + x) * 3;
      rgb[o] = toByte(rgbValue[0]);
      rgb[o + 1] = toByte(rgbValue[1]);
      rgb[o + 2] = toByte(rgbValue[2]);
    }
  }
  return { width: outW, height: outH, rgb };
}

/** Latents [4, h, w] (CHW) → a preview picture at the latent grid size (box-averaged down past 256 px). */
export function projectLatents(latents: Float32Array, height: number, width: number, projection: LatentRgbProjection): Picture {
  const { factors, bias } = projection;
  return downsample(latents, factors.length, height, width, (pixel, out) => {
    for (let k = 0; k < 3; k++) {
      let v = bias[k];
      for (let c = 0; c < factors.length; c++) v += pixel[c] * factors[c][k];
      out[k] = v;
    }
  });
}

/** An RGB image [3, H, W] in [-1, 1] (vae_approx output) → a preview picture of at most 256 px. */
export function rgbPlanesToPicture(planes: Float32Array, height: number, width: number): Picture {
  return downsample(planes, 3, height, width, (pixel, out) => out.set(pixel));
}

/** What previews need of a loaded model. */
export type PreviewSource = Pick<LoadedModel, 'loadVaeApprox'> & { unet: Pick<UnetModel, 'sdxl'> };

/** One request's previews: throttling, and the approx model or the projection. */
export class Previewer {
  private last: number;
  /** Time spent making previews, for the request's timings. */
  ms = 0;

  constructor(
    private readonly model: PreviewSource,
    private readonly request: PreviewRequest,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now();
  }

  /** True when a preview may be made now (at most one per intervalMs). */
  due(): boolean {
    return this.now() - this.last >= this.request.intervalMs;
  }

  async emit(latents: Float32Array, dims: readonly number[], at: Omit<PreviewImage, 'width' | 'height' | 'rgb'>): Promise<void> {
    const start = performance.now();
    const [, , height, width] = dims;
    const approx = await this.model.loadVaeApprox();
    const picture = approx ? await decodeApprox(approx, latents, dims) : projectLatents(latents, height, width, this.projection());
    this.ms += performance.now() - start;
    this.last = this.now();
    this.request.onPreview({ ...at, ...picture });
  }

  private projection(): LatentRgbProjection {
    // By latent space, not family name: every SDXL-architecture model (incl. Turbo and LCM-SDXL) shares the SDXL VAE.
    return this.model.unet.sdxl ? SDXL_LATENT_RGB : SD_LATENT_RGB;
  }
}

async function decodeApprox(approx: VaeApproxModel, latents: Float32Array, dims: readonly number[]): Promise<Picture> {
  const outputs = await approx.session.run({ [approx.input]: floatFeed(latents, dims, approx.inputType) }, [approx.output]);
  const planes = outputFloat32(outputs, approx.output, 'vae_approx/model.onnx');
  const [, channels, height, width] = outputs[approx.output].dims;
  if (channels !== 3 || planes.length !== 3 * height * width) {
    throw new EngineError('runtime_error', `Cannot make a preview: vae_approx/model.onnx returned shape [${outputs[approx.output].dims.join(', ')}], expected [1, 3, H, W]`);
  }
  return rgbPlanesToPicture(planes, height, width);
}
