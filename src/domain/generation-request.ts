/**
 * The one shape of a generation request, from the route to the engine. `GenerationRequestSchema` is the request
 * after its defaults are filled (what a request entry publishes as `content`, what a job carries, what
 * toEngineOptions() maps to the engine); `GenerationRequestBodySchema` is what a client may send, built from the
 * same field schemas with the defaulted fields optional. The route validates a body's shape against it once;
 * the rules that depend on the engine (resolution, step and cfg ranges, sampler, style) are checked in the same
 * pass by services/entries/request-check.ts.
 *
 * Image-to-image and inpainting take Stability v1's fields (init_image, image_strength, init_image_mode with
 * step_schedule_start/end, mask_image, mask_source) plus A1111's mask_blur. In a body, an image is a `data:` URL,
 * base64, a multipart file (decoded to a data: URL by the body parser), or the url or guid of an image of the
 * caller's account; in the stored request it is the url of the service's own copy of it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { WEBHOOK_EVENT_FILTERS, type WebhookEventFilter } from './webhooks.ts';

export const PROMPTS_MAX = 10;
export const PROMPT_TEXT_MAX = 2000;
/** Only the sign of a weight matters today; the bound keeps the stored value finite and sane. */
export const PROMPT_WEIGHT_MAX = 100;
export const IMAGES_MAX = 10;
/** Bounds every engine's step range must lie within (the engine's own range is checked as a rule). */
export const STEPS_MAX = 1000;
export const CFG_SCALE_MAX = 35;
export const SEED_MAX = 4294967295;
/** Multi-line text (prompts): anything but NUL (PostgreSQL cannot store it). */
export const NO_NUL = '^[^\\u0000]*$';

const TEXT = { maxLength: PROMPT_TEXT_MAX, pattern: NO_NUL, description: 'Prompt text' };
const WEIGHT = { minimum: -PROMPT_WEIGHT_MAX, maximum: PROMPT_WEIGHT_MAX, description: 'Positive: what to see; negative: what to avoid. Default 1.' };
const IMAGES = { minimum: 1, maximum: IMAGES_MAX, description: 'Number of images (default 1)' };
const STEPS = { minimum: 1, maximum: STEPS_MAX, description: "Within the engine's step range (GET /engines; default: the engine's)", examples: [45] };
const STYLE = { maxLength: 50, description: "One of the engine's style presets (GET /engines), e.g. neon-punk", examples: ['neon-punk'] };

/** Input images (init_image, mask_image): PNG, JPEG or WebP, at most this many bytes and pixels a side. */
export const INPUT_IMAGE_BYTES_MAX = 10 * 1024 * 1024;
export const INPUT_IMAGE_SIDE_MAX = 4096;
/** The longest text an image field may hold: a data: URL of INPUT_IMAGE_BYTES_MAX bytes in base64. */
export const INPUT_IMAGE_TEXT_MAX = Math.ceil(INPUT_IMAGE_BYTES_MAX / 3) * 4 + 100;
/** Stability's default image_strength: the share of the init image that is kept (diffusers' strength = 1 − it). */
export const IMAGE_STRENGTH_DEFAULT = 0.35;
/** Stability's default step_schedule_start (= diffusers' strength). */
export const STEP_SCHEDULE_START_DEFAULT = 0.65;
/** The largest mask blur σ in pixels (the engine's MAX_MASK_BLUR). */
export const MASK_BLUR_MAX = 64;

/** Hires fix (A1111's enable_hr): the largest upscale factor, and the default denoising strength of the refinement. */
export const HIRES_SCALE_MAX = 4;
export const HIRES_STRENGTH_DEFAULT = 0.7;

export const HiresSchema = Type.Object(
  {
    scale: Type.Number({ minimum: 1, maximum: HIRES_SCALE_MAX, description: 'Upscale factor of the first pass (1–4); the output is at most 4 × the area of the engine’s largest resolution' }),
    strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: `Denoising strength of the refinement, as diffusers and A1111 count it (default ${HIRES_STRENGTH_DEFAULT})` })),
    steps: Type.Optional(Type.Integer({ minimum: 1, maximum: STEPS_MAX, description: "Steps of the refinement's schedule, within the engine's range (default: the request's steps); it runs int(steps × strength) of them" })),
  },
  { additionalProperties: false, description: 'Hires fix for text-to-image: generate, upscale with Lanczos, refine with image-to-image (charged as a second request at the output size)' },
);
export type Hires = Static<typeof HiresSchema>;

export const INIT_IMAGE_MODES = ['IMAGE_STRENGTH', 'STEP_SCHEDULE'] as const;
export type InitImageMode = (typeof INIT_IMAGE_MODES)[number];
export const MASK_SOURCES = ['MASK_IMAGE_WHITE', 'MASK_IMAGE_BLACK', 'INIT_IMAGE_ALPHA'] as const;
export type MaskSource = (typeof MASK_SOURCES)[number];

const imageField = (description: string) =>
  Type.String({
    maxLength: INPUT_IMAGE_TEXT_MAX,
    description: `${description}: a PNG, JPEG or WebP (at most ${INPUT_IMAGE_BYTES_MAX / 1024 / 1024} MB and ${INPUT_IMAGE_SIDE_MAX} px a side) as a multipart file, a data: URL or base64; or the url or guid of an image of your account`,
  });

const imageFields = {
  init_image_mode: Type.Optional(
    Type.Unsafe<InitImageMode>(Type.String({ enum: [...INIT_IMAGE_MODES], description: 'IMAGE_STRENGTH (default): image_strength decides; STEP_SCHEDULE: step_schedule_start does' })),
  ),
  image_strength: Type.Optional(
    Type.Number({ minimum: 0, maximum: 1, description: `How much of the init image is kept: close to 1 keeps it, close to 0 changes it freely (default ${IMAGE_STRENGTH_DEFAULT}); diffusers' strength is 1 − image_strength` }),
  ),
  step_schedule_start: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: `With init_image_mode=STEP_SCHEDULE: where in the schedule denoising starts, = 1 − image_strength (default ${STEP_SCHEDULE_START_DEFAULT})` })),
  step_schedule_end: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'With init_image_mode=STEP_SCHEDULE: where it ends; only 1 (the end of the schedule) is supported' })),
  mask_source: Type.Optional(
    Type.Unsafe<MaskSource>(
      Type.String({
        enum: [...MASK_SOURCES],
        description: 'Inpainting: MASK_IMAGE_WHITE (white in mask_image is repainted; the default with a mask_image), MASK_IMAGE_BLACK (black is repainted) or INIT_IMAGE_ALPHA (transparent pixels of init_image are repainted; the default without one)',
      }),
    ),
  ),
  mask_blur: Type.Optional(Type.Number({ minimum: 0, maximum: MASK_BLUR_MAX, description: 'Inpainting: Gaussian blur σ in pixels applied to the mask before it is binarised (A1111 mask_blur; default 0)' })),
};

const fields = {
  engine: Type.String({ maxLength: 100, description: 'Engine id, see GET /engines', examples: ['stable-diffusion-xl-1024-v0-9'] }),
  resolution: Type.String({ maxLength: 20, description: "WIDTHxHEIGHT, one of the engine's resolutions", examples: ['1024x1024'] }),
  seed: Type.Optional(Type.Integer({ minimum: 0, maximum: SEED_MAX, description: '0 or absent: random; the seed used is reported per image' })),
  cfg_scale: Type.Optional(Type.Number({ minimum: 0, maximum: CFG_SCALE_MAX, description: "Prompt strength, within the engine's range (default: the engine's)" })),
  sampler: Type.Optional(Type.String({ maxLength: 50, description: 'One of the engine samplers (Stability names K_EULER, K_EULER_ANCESTRAL, DDIM, K_DPMPP_2M are accepted)' })),
};

export const WeightedPromptSchema = Type.Object({ text: Type.String(TEXT), weight: Type.Number(WEIGHT) });

export const GenerationRequestSchema = Type.Object({
  prompts: Type.Array(WeightedPromptSchema, { minItems: 1, maxItems: PROMPTS_MAX }),
  engine: fields.engine,
  style: Type.Union([Type.String(STYLE), Type.Null()]),
  images: Type.Integer(IMAGES),
  steps: Type.Integer(STEPS),
  resolution: fields.resolution,
  seed: fields.seed,
  cfg_scale: fields.cfg_scale,
  /** The engine's name for the sampler (aliases resolved). */
  sampler: fields.sampler,
  /** Image-to-image and inpainting: the url of the service's copy of the init image (and of the mask image). */
  init_image: Type.Optional(Type.String({ maxLength: 2000 })),
  mask_image: Type.Optional(Type.String({ maxLength: 2000 })),
  ...imageFields,
  /** Hires fix, every field filled. */
  hires: Type.Optional(Type.Object({ scale: Type.Number({ minimum: 1, maximum: HIRES_SCALE_MAX }), strength: Type.Number({ minimum: 0, maximum: 1 }), steps: Type.Integer({ minimum: 1, maximum: STEPS_MAX }) })),
  /** false: no live previews on the event stream (absent: previews on). */
  preview: Type.Optional(Type.Boolean()),
});

/** A checked request with its defaults filled: the request entry's `content` and the job's `request`. */
export type GenerationRequest = Static<typeof GenerationRequestSchema>;
export type WeightedPrompt = Static<typeof WeightedPromptSchema>;

export const GenerationRequestBodySchema = Type.Object(
  {
    type: Type.Optional(Type.Unsafe<'request'>(Type.String({ enum: ['request'], description: 'Always "request" (default)' }))),
    engine: fields.engine,
    resolution: Type.Optional(Type.String({ maxLength: 20, examples: ['1024x1024'], description: "WIDTHxHEIGHT, one of the engine's resolutions; with an init_image it defaults to the engine's resolution closest to the image's aspect ratio" })),
    prompts: Type.Array(Type.Object({ text: Type.String(TEXT), weight: Type.Optional(Type.Number({ ...WEIGHT, default: 1 })) }), {
      minItems: 1,
      maxItems: PROMPTS_MAX,
      description: 'At least one prompt with a positive weight',
    }),
    images: Type.Optional(Type.Integer({ ...IMAGES, default: 1 })),
    steps: Type.Optional(Type.Integer(STEPS)),
    style: Type.Optional(Type.String(STYLE)),
    seed: fields.seed,
    cfg_scale: fields.cfg_scale,
    sampler: fields.sampler,
    init_image: Type.Optional(imageField('Image-to-image and inpainting: the image to start from')),
    mask_image: Type.Optional(imageField('Inpainting: the mask (see mask_source); stretched to the init image size')),
    ...imageFields,
    hires: Type.Optional(HiresSchema),
    webhook: Type.Optional(
      Type.String({
        maxLength: 2048,
        description:
          'Bearer-token requests only: an https URL that receives signed POSTs (Standard Webhooks) as the request starts or ends. Plain http only for hosts in SDAPI_WEBHOOK_ALLOW_HOSTS; loopback, private, link-local and metadata addresses are refused.',
        examples: ['https://example.com/hooks/sdapi'],
      }),
    ),
    webhook_events_filter: Type.Optional(
      Type.Array(Type.Unsafe<WebhookEventFilter>(Type.String({ enum: [...WEBHOOK_EVENT_FILTERS] })), {
        minItems: 1,
        maxItems: WEBHOOK_EVENT_FILTERS.length,
        description: 'Which events the webhook receives: `start` (entry.started) and/or `completed` (entry.completed, entry.failed, entry.cancelled). Default: completed. As a form: webhook_events_filter[]=start&webhook_events_filter[]=completed.',
      }),
    ),
    preview: Type.Optional(Type.Boolean({ description: 'false: no live previews on GET /threads/{guid}/events (default true)' })),
  },
  { description: 'Send as application/x-www-form-urlencoded (bracket keys: prompts[0][text]), multipart/form-data or JSON.' },
);

/** What a client sends, after the route's schema check (Ajv fills `images` and prompt weights). */
export type GenerationRequestBody = Static<typeof GenerationRequestBodySchema>;

/** `WIDTHxHEIGHT` → numbers, or undefined when the text is not a resolution. */
export function parseResolution(text: string): { width: number; height: number } | undefined {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(text);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : undefined;
}

/**
 * diffusers' strength of a request with an init image: 1 − image_strength (IMAGE_STRENGTH mode) or step_schedule_start
 * (STEP_SCHEDULE mode); undefined for text-to-image.
 */
export function diffusersStrength(request: Pick<GenerationRequest, 'init_image' | 'init_image_mode' | 'image_strength' | 'step_schedule_start'>): number | undefined {
  if (request.init_image === undefined) return undefined;
  if (request.init_image_mode === 'STEP_SCHEDULE') return request.step_schedule_start ?? STEP_SCHEDULE_START_DEFAULT;
  return 1 - (request.image_strength ?? IMAGE_STRENGTH_DEFAULT);
}

/** The hires fix's output size: the resolution × scale, each side rounded to the model's latent multiple `m`. */
export function hiresSize(size: { width: number; height: number }, scale: number, m: number): { width: number; height: number } {
  return { width: Math.max(m, Math.round((size.width * scale) / m) * m), height: Math.max(m, Math.round((size.height * scale) / m) * m) };
}
