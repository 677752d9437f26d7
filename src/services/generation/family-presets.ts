/**
 * What an engine offers when its registry entry does not say: step and cfg ranges and the usual sizes of its model
 * family. Every size here is a multiple of 64, the latent multiple of the full-size SD 1.x/2.x UNets (SDXL's is 32),
 * so the lists generate natively on real models.
 */
import type { ModelFamily } from '../../engine/index.ts';

export interface NumberRange {
  min: number;
  max: number;
  default: number;
}

/** Stability's nine SDXL sizes (about one megapixel each). */
export const SDXL_RESOLUTIONS = ['1024x1024', '1152x896', '1216x832', '1344x768', '1536x640', '640x1536', '768x1344', '832x1216', '896x1152'];
/** The 512-class sizes of SD 1.x, SD 2.x (epsilon), SD-Turbo and LCM (SD 1.5-based). */
export const SD15_RESOLUTIONS = ['512x512', '512x768', '768x512', '576x448', '448x576', '640x384', '384x640', '704x384', '384x704'];
/** The 768-class sizes of SD 2.x v-prediction. */
export const SD2V_RESOLUTIONS = ['768x768', '768x1152', '1152x768', '896x640', '640x896', '1024x576', '576x1024'];

export interface FamilyPreset {
  steps: NumberRange;
  cfg: NumberRange;
  resolutions: readonly string[];
}

const CFG = { min: 0, max: 35 };
const TURBO = { steps: { min: 1, max: 4, default: 1 }, cfg: { ...CFG, default: 0 } };
const LCM = { steps: { min: 2, max: 8, default: 4 }, cfg: { ...CFG, default: 1.5 } };
const CLASSIC = { steps: { min: 10, max: 150, default: 30 }, cfg: { ...CFG, default: 7 } };

export const FAMILY_PRESETS: Readonly<Record<ModelFamily, FamilyPreset>> = {
  sd1: { ...CLASSIC, resolutions: SD15_RESOLUTIONS },
  sd2: { ...CLASSIC, resolutions: SD15_RESOLUTIONS },
  'sd2-v': { ...CLASSIC, resolutions: SD2V_RESOLUTIONS },
  sdxl: { ...CLASSIC, resolutions: SDXL_RESOLUTIONS },
  lcm: { ...LCM, resolutions: SD15_RESOLUTIONS },
  'sd-turbo': { ...TURBO, resolutions: SD15_RESOLUTIONS },
  'sdxl-turbo': { ...TURBO, resolutions: ['512x512', ...SDXL_RESOLUTIONS] },
};

/** What people call the family, for generated names and descriptions. */
export const FAMILY_LABELS: Readonly<Record<ModelFamily, string>> = {
  sd1: 'Stable Diffusion 1.x',
  sd2: 'Stable Diffusion 2.x',
  'sd2-v': 'Stable Diffusion 2.x (768, v-prediction)',
  sdxl: 'Stable Diffusion XL',
  lcm: 'Latent Consistency Model',
  'sd-turbo': 'SD-Turbo',
  'sdxl-turbo': 'SDXL-Turbo',
};

/**
 * The native size and a few common aspect ratios at the native area, each side rounded to the latent multiple
 * (duplicates dropped): the sizes a model generates without upscaling and without leaving its training area.
 */
export function nativeResolutions(model: { nativeWidth: number; nativeHeight: number; latentMultiple: number }): string[] {
  const area = model.nativeWidth * model.nativeHeight;
  const m = model.latentMultiple;
  const round = (value: number): number => Math.max(m, Math.round(value / m) * m);
  const sizes = [`${round(model.nativeWidth)}x${round(model.nativeHeight)}`];
  for (const aspect of [4 / 3, 3 / 4, 3 / 2, 2 / 3, 16 / 9, 9 / 16]) {
    const size = `${round(Math.sqrt(area * aspect))}x${round(Math.sqrt(area / aspect))}`;
    if (!sizes.includes(size)) sizes.push(size);
  }
  return sizes;
}
