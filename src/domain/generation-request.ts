/**
 * The one shape of a generation request, from the route to the engine. `GenerationRequestSchema` is the request
 * after its defaults are filled (what a request entry publishes as `content`, what a job carries, what
 * toEngineOptions() maps to the engine); `GenerationRequestBodySchema` is what a client may send, built from the
 * same field schemas with the defaulted fields optional. The route validates a body's shape against it once;
 * the rules that depend on the engine (resolution, step and cfg ranges, sampler, style) are checked in the same
 * pass by services/entries/request-check.ts.
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
    resolution: fields.resolution,
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
