/**
 * The 17 style presets of Stability's `style_preset` parameter, as prompt templates written for this project.
 * `{prompt}` in a positive template is replaced with the user's prompt; the preset's negative text is appended to the
 * user's negative prompt.
 */
import { EngineError } from '../errors.ts';

interface StyleTemplate {
  positive: string;
  negative: string;
}

const TEMPLATES: Readonly<Record<string, StyleTemplate>> = {
  '3d-model': {
    positive: '3d render of {prompt}, polished 3d model, studio lighting, octane-style rendering, high detail',
    negative: 'flat illustration, sketch, painting, photo grain, blurry, low poly',
  },
  'analog-film': {
    positive: 'analog film photo of {prompt}, shot on 35mm film, natural film grain, faded colours, vintage look',
    negative: 'digital render, 3d, cartoon, illustration, oversaturated, sharp digital noise',
  },
  anime: {
    positive: 'anime illustration of {prompt}, cel shading, clean line art, vibrant colours, anime key visual',
    negative: 'photo, photorealistic, 3d render, realistic skin texture, blurry',
  },
  cinematic: {
    positive: 'cinematic still of {prompt}, dramatic lighting, shallow depth of field, film color grading, widescreen composition',
    negative: 'cartoon, drawing, flat lighting, amateur snapshot, low quality, blurry',
  },
  'comic-book': {
    positive: 'comic book panel of {prompt}, bold ink outlines, halftone shading, dynamic composition, graphic novel art',
    negative: 'photo, photorealistic, 3d render, soft blur, washed out colours',
  },
  'digital-art': {
    positive: 'digital painting of {prompt}, concept art, detailed brushwork, rich colours, trending digital artwork',
    negative: 'photo, film grain, low resolution, messy sketch, blurry',
  },
  enhance: {
    positive: '{prompt}, highly detailed, sharp focus, refined lighting, professional quality',
    negative: 'low quality, blurry, noisy, jpeg artifacts, distorted',
  },
  'fantasy-art': {
    positive: 'fantasy artwork of {prompt}, magical atmosphere, epic scenery, ethereal light, detailed illustration',
    negative: 'mundane, modern photo, plain background, low detail, blurry',
  },
  isometric: {
    positive: 'isometric view of {prompt}, isometric projection, clean geometry, miniature diorama, soft even lighting',
    negative: 'perspective distortion, fisheye, close-up, blurry, cluttered',
  },
  'line-art': {
    positive: 'line art drawing of {prompt}, clean monochrome lines, minimal shading, white background, precise linework',
    negative: 'colour fill, photo, 3d render, gradients, painterly texture, blurry',
  },
  'low-poly': {
    positive: 'low poly model of {prompt}, faceted polygons, flat shaded surfaces, simple geometric shapes, clean colours',
    negative: 'high poly, photorealistic, smooth surfaces, noisy texture, blurry',
  },
  'modeling-compound': {
    positive: 'clay figure of {prompt}, handmade modeling compound, plasticine texture, stop-motion look, soft studio light',
    negative: 'photo of a real person, digital painting, flat vector, metallic, blurry',
  },
  'neon-punk': {
    positive: 'neon punk style {prompt}, glowing neon lights, cyberpunk city vibe, vivid magenta and cyan, high contrast',
    negative: 'daylight, muted colours, pastel, rustic, blurry',
  },
  origami: {
    positive: 'origami sculpture of {prompt}, folded paper art, crisp paper creases, paper texture, simple backdrop',
    negative: 'fabric, plastic, photo of a real animal, painting, blurry, noisy',
  },
  photographic: {
    positive: 'photograph of {prompt}, natural light, realistic detail, shot with a 50mm lens, sharp focus',
    negative: 'drawing, painting, illustration, cartoon, 3d render, anime',
  },
  'pixel-art': {
    positive: 'pixel art of {prompt}, 16-bit sprite style, limited colour palette, crisp square pixels, retro game art',
    negative: 'smooth gradients, photo, 3d render, anti-aliased, blurry, high resolution detail',
  },
  'tile-texture': {
    positive: 'seamless tileable texture of {prompt}, repeating pattern, flat top-down view, even lighting, material swatch',
    negative: 'perspective, visible seams, vignette, objects in focus, shadows, blurry',
  },
};

/** Preset names accepted by `applyStyle` (Stability's `style_preset` values). */
export const STYLE_PRESETS: readonly string[] = Object.freeze(Object.keys(TEMPLATES).sort());

/**
 * Applies a style preset to a prompt pair. With no style the texts are returned unchanged. An empty positive
 * prompt yields the template without the placeholder; the preset's negative text is joined to a non-empty user
 * negative with ", ".
 * @throws {EngineError} `invalid_argument` for an unknown style
 * @example applyStyle('anime', 'a cat', '').positive.startsWith('anime illustration of a cat')
 */
export function applyStyle(style: string | undefined, positive: string, negative: string): { positive: string; negative: string } {
  if (style === undefined) return { positive, negative };
  const template = Object.prototype.hasOwnProperty.call(TEMPLATES, style) ? TEMPLATES[style] : undefined;
  if (template === undefined) {
    throw new EngineError(
      'invalid_argument',
      `Cannot apply style preset: style must be one of ${STYLE_PRESETS.join(', ')}: current value is ${JSON.stringify(style)}`,
    );
  }
  const prompt = positive.trim();
  const styled = template.positive
    .replace('{prompt}', () => prompt)
    .replace(/\s+,/g, ',')
    .replace(/\s{2,}/g, ' ')
    .replace(/^[\s,]+/, '')
    .trim();
  const userNegative = negative.trim();
  return {
    positive: styled,
    negative: userNegative === '' ? template.negative : `${userNegative}, ${template.negative}`,
  };
}
