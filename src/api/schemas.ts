/** TypeBox schemas: request validation, response serialization and the OpenAPI document, from one source. */
import { Type, type TSchema } from '@sinclair/typebox';
import { ENTRY_STATUSES, ImageItemSchema, ProgressSchema } from '../domain/entry.ts';

export { ImageItemSchema, ProgressSchema };

export const Nullable = <T extends TSchema>(schema: T) => Type.Unsafe<T['static'] | null>({ ...schema, nullable: true });

export const Timestamp = Type.String({ description: 'ISO-8601 UTC, microsecond precision', examples: ['2023-07-13T19:56:25.000000Z'] });

export const ErrorBody = Type.Object({ message: Type.String(), code: Type.Optional(Type.String()) });
export const ValidationErrorBody = Type.Object(
  { message: Type.String(), errors: Type.Record(Type.String(), Type.Array(Type.String())) },
  { description: 'Each invalid field with its messages; nested fields use dots (prompts.0.text).' },
);

/** Path parameters never exceed Fastify's maxParamLength (a longer one is a 414 before validation). */
export const PARAM_MAX = 100;
/** Highest page number a list accepts: far beyond any real list, low enough that the SQL offset stays a safe integer. */
export const PAGE_MAX = 1_000_000;

const THREAD_GUID_EXAMPLE = '44142638-4934-4bf5-9be7-b4b5a6368f44';
export const GuidParams = Type.Object({ guid: Type.String({ maxLength: PARAM_MAX, description: 'Thread guid', examples: [THREAD_GUID_EXAMPLE] }) });

export const PageQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_MAX, default: 1 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

/** Single-line text typed by a person (names, emails): no control characters (PostgreSQL cannot store NUL). */
export const NO_CONTROL_CHARS = '^[^\\u0000-\\u001f\\u007f]*$';

export const PageMeta = Type.Object({ current_page: Type.Integer(), per_page: Type.Integer(), total: Type.Integer(), last_page: Type.Integer() });

export const ThreadSchema = Type.Object(
  {
    guid: Type.String({ format: 'uuid' }),
    ai_code: Type.String({ examples: ['stablediffusion'] }),
    ai_version_code: Type.String({ examples: ['stablediffusion_text2img'] }),
    title: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
);

export const CreateThreadBody = Type.Object(
  {
    ai_version_code: Type.String({
      maxLength: 100,
      description: 'The AI version of the thread: stablediffusion_text2img, stablediffusion_img2img (requests need an init_image) or stablediffusion_inpaint (an init_image and a mask)',
      examples: ['stablediffusion_text2img'],
    }),
  },
  { examples: [{ ai_version_code: 'stablediffusion_text2img' }] },
);

export const EntrySchema = Type.Object(
  {
    guid: Type.String({ format: 'uuid' }),
    thread_guid: Type.String({ format: 'uuid' }),
    type: Type.String({ enum: ['request', 'response'] }),
    error: Nullable(Type.String()),
    content: Type.Unknown({ description: 'request: the parameters (object); response: one item per image (array of ImageItem)' }),
    waiting_response: Type.Boolean(),
    credits: Type.Integer(),
    created_at: Timestamp,
    status: Type.String({ enum: [...ENTRY_STATUSES] }),
    progress: Nullable(ProgressSchema),
    queue_position: Type.Optional(Type.Integer({ description: 'queued requests: how many jobs start on its engine before it (an estimate)' })),
    eta_seconds: Type.Optional(Nullable(Type.Integer({ description: "running requests: seconds until done, from the engine's recent step times (null before the first step)" }))),
    request_guid: Type.Optional(Type.String({ description: 'response entries: the request they answer' })),
  },
);

export const EngineSchema = Type.Object({
  id: Type.String({ description: 'The canonical engine id' }),
  name: Type.String(),
  description: Type.String(),
  type: Type.String(),
  aliases: Type.Array(Type.String(), { description: 'Further ids requests may name for this engine' }),
  model: Type.Object({
    name: Type.String({ description: 'The model folder' }),
    family: Type.String({ examples: ['sd1', 'sdxl', 'sdxl-turbo'] }),
    native_resolution: Type.String(),
    latent_multiple: Type.Integer({ description: 'Width and height the model generates are multiples of this' }),
    default_sampler: Type.String({ description: "The scheduler of the model's own config" }),
  }),
  native_resolution: Type.String(),
  upscaled: Type.Boolean({ description: 'true: every size is generated at the native area in its aspect ratio and resized to exactly the requested size; false: generated as requested' }),
  resolutions: Type.Array(Type.String()),
  steps: Type.Object({ min: Type.Integer(), max: Type.Integer(), default: Type.Integer() }),
  cfg_scale: Type.Object({ min: Type.Number(), max: Type.Number(), default: Type.Number() }),
  samplers: Type.Array(Type.String()),
  default_sampler: Type.String({ description: 'Used when a request names none' }),
  styles: Type.Array(Type.String()),
  inputs: Type.Object(
    {
      text_to_image: Type.Boolean({ description: 'Requests without an init_image (false for inpainting models)' }),
      image_to_image: Type.Boolean({ description: 'init_image without a mask (the model has a VAE encoder and is not an inpainting model)' }),
      inpainting: Nullable(
        Type.Unsafe<'model' | 'blend'>(Type.String({ enum: ['model', 'blend'], description: 'model: a 9-channel inpainting UNet; blend: a regular UNet that blends the kept region back in at every step; null: no inpainting' })),
      ),
      hires: Type.Boolean({ description: 'The hires fix can refine its text-to-image requests' }),
    },
    { description: 'What requests this engine takes (thread kinds: stablediffusion_text2img, stablediffusion_img2img, stablediffusion_inpaint)' },
  ),
  workers: Type.Integer({ description: 'Live workers serving this engine (refreshed about once a second)' }),
  queued: Type.Integer({ description: 'Requests waiting for a worker' }),
  device: Nullable(Type.String({ description: 'Where live workers run it (cpu, cuda:0, …; comma-separated when they differ); null while no worker serves it' })),
});

export const AccountSchema = Type.Object({
  email: Type.String(),
  credits: Type.Integer(),
  priority: Type.Union([Type.Literal('high'), Type.Literal('normal'), Type.Literal('low')], {
    description: 'Scheduling priority: when accounts compete for workers, high gets twice the share of normal and normal twice that of low.',
  }),
  max_running: Type.Integer({ description: "How many of the account's requests may generate at once, across all workers." }),
  max_queued: Type.Integer({ description: 'How many may wait; a request beyond it answers 429 with Retry-After.' }),
  running: Type.Integer({ description: "The account's requests generating now." }),
  queued: Type.Integer({ description: "The account's requests waiting now." }),
});

/** `{data: …}`; with an example, Swagger UI shows it instead of placeholders built from the schema. */
export function data<T extends TSchema>(schema: T, example?: unknown) {
  return Type.Object({ data: schema }, example === undefined ? {} : { examples: [{ data: example }] });
}

export const EntryParams = Type.Object({
  guid: Type.String({ maxLength: PARAM_MAX, description: 'Thread guid', examples: [THREAD_GUID_EXAMPLE] }),
  entry_guid: Type.String({ maxLength: PARAM_MAX, description: 'Request entry guid (or its response entry guid: the pair is deleted)', examples: ['c7c088d3-7644-4385-b77c-a3ee98c4eed2'] }),
});

export const RenameThreadBody = Type.Object(
  { title: Type.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, description: '1–100 characters, one line', examples: ['Delorean at night'] }) },
  { examples: [{ title: 'Delorean at night' }] },
);

export const QuoteSchema = Type.Object({ credits: Type.Integer({ description: 'What the request would cost now', examples: [10] }) });

export const GalleryImageSchema = Type.Object({
  entry_guid: Type.String({ format: 'uuid', description: 'The request entry the image answers' }),
  thread_guid: Type.String({ format: 'uuid' }),
  thread_title: Type.String(),
  position: Type.Integer({ description: 'Index of the image in its response (its seed is the request seed + position)' }),
  url: Type.String(),
  thumbnail_url: Type.String(),
  dimensions: Type.String({ examples: ['1024x1024'] }),
  filesize: Type.Integer(),
  seed: Type.Integer(),
  prompt: Type.String({ description: 'The positive prompt text of the request' }),
  created_at: Timestamp,
});

export const errorResponses = {
  401: { description: 'Missing or invalid bearer token', ...ErrorBody },
  404: { description: 'Not found (or owned by another account)', ...ErrorBody },
  422: { description: 'Invalid input', ...ValidationErrorBody },
};
