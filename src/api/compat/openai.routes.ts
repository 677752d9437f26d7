/**
 * The OpenAI Images API under /v1, for the official SDKs (`client.images.generate`) and tools written against it:
 * POST /v1/images/generations (synchronous, or `stream: true` as server-sent events), POST /v1/images/edits (inpainting
 * or image to image, `client.images.edit`) and GET /v1/models. Requests
 * become ordinary request entries in the account's "OpenAI API" thread (ProtocolService): same check, price,
 * credits, queue and engines as POST /threads/{guid}/entry; only the field names and the answers are OpenAI's.
 * Errors are OpenAI's `{"error": {message, type, param, code}}` with its status codes.
 */
import { Type, type Static } from '@sinclair/typebox';
import sharp from 'sharp';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import { INPUT_IMAGE_BYTES_MAX, INPUT_IMAGE_SIDE_MAX, INPUT_IMAGE_TEXT_MAX, NO_NUL, PROMPT_TEXT_MAX, SEED_MAX, type GenerationRequestBody } from '../../domain/generation-request.ts';
import { isBase64 } from '../../services/entries/input-images.ts';
import type { Engine, EngineCatalog } from '../../services/generation/engine-catalog.ts';
import type { ApplicationService } from '../../services/identity/applications.ts';
import type { LivePreview, ProtocolOutcome, ProtocolService } from '../../services/protocols/protocol-service.ts';
import { decodeMultipartBody, requireAuth } from '../auth.ts';
import { logProblem, toProblem, type Problem } from '../errors.ts';
import type { RateLimit } from '../rate-limit.ts';
import { Nullable } from '../schemas.ts';
import { clientGone, renameFields, surfaceAuthHook } from './surface.ts';

export const OPENAI_PREFIX = '/v1';
const TAG = 'OpenAI Images API';

export interface OpenAiRouteDeps {
  protocols: ProtocolService;
  engines: EngineCatalog;
  applications: ApplicationService;
  rateLimit?: RateLimit;
  /** How long a generation is waited for before the 504 (SDAPI_SYNC_TIMEOUT). */
  syncTimeoutMs: number;
  /** When the routes were loaded: the `created` of GET /v1/models. */
  startedAt?: Date;
  /** The body limit of /images/edits, which carries images (SDAPI_IMAGE_BODY_LIMIT). */
  imageBodyLimit?: number;
}

const QUALITIES = ['auto', 'standard', 'hd', 'low', 'medium', 'high'] as const;

export const OpenAiImageRequestSchema = Type.Object(
  {
    prompt: Type.String({ minLength: 1, maxLength: PROMPT_TEXT_MAX, pattern: NO_NUL, description: 'What to draw (A1111-style emphasis syntax is not interpreted)' }),
    model: Type.Optional(Type.String({ maxLength: 100, description: 'An engine id or alias (GET /v1/models); default: the first engine' })),
    n: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 1, description: 'Number of images' })),
    size: Type.Optional(Type.String({ maxLength: 20, description: "`WIDTHxHEIGHT` from the engine's resolutions (GET /api/v1/engines), or `auto` (the engine's first)", examples: ['1024x1024'] })),
    response_format: Type.Optional(Type.Unsafe<'url' | 'b64_json'>(Type.String({ enum: ['url', 'b64_json'], default: 'url', description: '`url` (default): links to the stored PNGs; `b64_json`: the image bytes' }))),
    output_format: Type.Optional(Type.Unsafe<'png' | 'jpeg' | 'webp'>(Type.String({ enum: ['png', 'jpeg', 'webp'], description: 'png (default); jpeg and webp with response_format b64_json or stream' }))),
    output_compression: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'jpeg/webp quality, 0–100 (default 90)' })),
    quality: Type.Optional(Type.Unsafe<(typeof QUALITIES)[number]>(Type.String({ enum: [...QUALITIES], description: "Steps when `steps` is absent: low = half the engine's default, high and hd = 1.5 ×, others the default (within the engine's range)" }))),
    style: Type.Optional(Type.String({ maxLength: 20, description: 'Accepted (vivid, natural) and ignored: use style_preset' })),
    background: Type.Optional(Type.Unsafe<'auto' | 'opaque' | 'transparent'>(Type.String({ enum: ['auto', 'opaque', 'transparent'], description: 'auto and opaque; transparent is refused (the engines draw opaque images)' }))),
    moderation: Type.Optional(Type.String({ maxLength: 20, description: 'Accepted and ignored' })),
    user: Type.Optional(Type.String({ maxLength: 256, description: 'Accepted and ignored' })),
    stream: Type.Optional(Type.Boolean({ description: 'Answer text/event-stream: image_generation.partial_image events (previews), then image_generation.completed per image' })),
    partial_images: Type.Optional(Type.Integer({ minimum: 0, maximum: 3, description: 'With stream: at most this many partial images (previews) per image' })),
    negative_prompt: Type.Optional(Type.String({ maxLength: PROMPT_TEXT_MAX, pattern: NO_NUL, description: 'sdapi extension: what to avoid' })),
    steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "sdapi extension: within the engine's step range" })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: SEED_MAX, description: 'sdapi extension: 0 or absent = random; image i uses seed + i' })),
    cfg_scale: Type.Optional(Type.Number({ minimum: 0, maximum: 35, description: "sdapi extension: within the engine's range" })),
    sampler: Type.Optional(Type.String({ maxLength: 50, description: "sdapi extension: one of the engine's samplers" })),
    style_preset: Type.Optional(Type.String({ maxLength: 50, description: 'sdapi extension: a style preset (e.g. neon-punk)' })),
  },
  { examples: [{ prompt: 'a red circle on a blue background', size: '1024x1024', n: 1, response_format: 'b64_json' }] },
);
export type OpenAiImageRequest = Static<typeof OpenAiImageRequestSchema>;

const editImage = (description: string) => Type.String({ maxLength: INPUT_IMAGE_TEXT_MAX, description: `${description}: a PNG, JPEG or WebP file (at most 10 MB and 4096 px a side); in a JSON body a data: URL or base64` });
const { stream: _stream, partial_images: _partials, style: _style, ...EDIT_FIELDS } = OpenAiImageRequestSchema.properties;

export const OpenAiEditRequestSchema = Type.Object(
  {
    ...EDIT_FIELDS,
    image: Type.Array(editImage('The image to edit'), { minItems: 1, maxItems: 1, description: 'One image (`image`, or `image[]` with one file)' }),
    mask: Type.Optional(editImage("Where to edit: the mask's fully transparent pixels (alpha below 50 %) are repainted; stretched to the image. Without one, the image's own transparent pixels are, and an opaque image is edited as a whole (image to image)")),
    size: Type.Optional(Type.String({ maxLength: 20, description: "`WIDTHxHEIGHT` from the engine's resolutions, or `auto` (default: the resolution closest to the image's aspect ratio)" })),
    image_strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "sdapi extension: how much of the image is kept (Stability's meaning; diffusers' strength is 1 − it). Default: 0 with a mask or transparency (the masked area is repainted), 0.35 without" })),
    mask_blur: Type.Optional(Type.Number({ minimum: 0, maximum: 64, description: 'sdapi extension: Gaussian blur σ in pixels applied to the mask before it is binarised (default 0)' })),
    input_fidelity: Type.Optional(Type.String({ maxLength: 20, description: 'Accepted and ignored: use image_strength' })),
  },
  { description: 'Send as multipart/form-data (what the SDKs send), or JSON with the images as data: URLs or base64.' },
);
export type OpenAiEditRequest = Static<typeof OpenAiEditRequestSchema>;

const OpenAiError = Type.Object(
  { error: Type.Object({ message: Type.String(), type: Type.String(), param: Nullable(Type.String()), code: Nullable(Type.String()) }) },
  { description: "OpenAI's error shape" },
);
const ImagesResponse = Type.Object({
  created: Type.Integer({ description: 'Unix time of the request' }),
  data: Type.Array(Type.Object({ url: Type.Optional(Type.String()), b64_json: Type.Optional(Type.String()), revised_prompt: Nullable(Type.String()) })),
});
const ModelSchema = Type.Object({ id: Type.String(), object: Type.Literal('model'), created: Type.Integer(), owned_by: Type.String() });
const ModelList = Type.Object({ object: Type.Literal('list'), data: Type.Array(ModelSchema) });

const errorResponse = (description: string) => ({ description, ...OpenAiError });
/** The answers both image routes share, beside their 200 and 400. */
const GENERATION_ERRORS = {
  401: errorResponse('Bad or missing API key'),
  429: errorResponse('Rate limit (code rate_limit_exceeded) or too few credits (code insufficient_quota)'),
  500: errorResponse('The generation failed (credits refunded)'),
  504: errorResponse('Not ready within SDAPI_SYNC_TIMEOUT; repeating the request returns its result'),
};
const SECURITY = [{ bearerAuth: [] }];

/** Our request fields → OpenAI's, for error `param`s and messages. */
const FIELD_NAMES: Readonly<Record<string, string>> = {
  engine: 'model',
  resolution: 'size',
  images: 'n',
  'prompts.0.text': 'prompt',
  'prompts.1.text': 'negative_prompt',
  prompts: 'prompt',
  style: 'style_preset',
  init_image: 'image',
  mask_image: 'mask',
  mask_source: 'mask',
};

export function openAiRoutes(deps: OpenAiRouteDeps): FastifyPluginAsync {
  const created = Math.floor((deps.startedAt ?? new Date()).getTime() / 1000);
  return async (app) => {
    app.addHook('onRequest', surfaceAuthHook({ applications: deps.applications, rateLimit: deps.rateLimit && { ...deps.rateLimit, errorBody: rateLimitBody } }));
    app.setErrorHandler(openAiErrorHandler);
    app.setNotFoundHandler((request, reply) => {
      sendError(reply, 404, { message: `Invalid URL (${request.method} ${request.url.split('?')[0].slice(0, 200)})`, type: 'invalid_request_error', param: null, code: null });
    });

    app.get(
      '/models',
      {
        schema: {
          tags: [TAG],
          summary: 'List the engines as models',
          description: 'Every engine id (an alias is accepted as `model` too, but not listed).',
          security: SECURITY,
          response: { 200: ModelList, 401: errorResponse('Bad or missing API key') },
        },
      },
      async (request) => {
        requireAuth(request);
        return { object: 'list' as const, data: deps.engines.list().map((e) => ({ id: e.id, object: 'model' as const, created, owned_by: 'sdapi' })) };
      },
    );

    app.get<{ Params: { model: string } }>(
      '/models/:model',
      {
        schema: {
          tags: [TAG],
          summary: 'One engine as a model',
          description: 'By id or alias (the answer names the canonical id).',
          security: SECURITY,
          params: Type.Object({ model: Type.String({ maxLength: 100 }) }),
          response: { 200: ModelSchema, 401: errorResponse('Bad or missing API key'), 404: errorResponse('No such model') },
        },
      },
      async (request, reply) => {
        requireAuth(request);
        const engine = deps.engines.find(request.params.model);
        if (!engine) return sendError(reply, 404, { message: `The model '${request.params.model}' does not exist`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
        return { id: engine.id, object: 'model' as const, created, owned_by: 'sdapi' };
      },
    );

    app.post<{ Body: OpenAiEditRequest }>(
      '/images/edits',
      {
        bodyLimit: deps.imageBodyLimit,
        config: { fileFields: ['image', 'image[]', 'mask'] },
        preValidation: decodeMultipartBody,
        schema: {
          tags: [TAG],
          summary: 'Edit an image (OpenAI Images API): inpainting, or image to image',
          description:
            "With a mask (or an image with transparent pixels): inpainting of the transparent pixels, as OpenAI masks work. With an opaque image and no mask: image to image from the whole picture. Synchronous like /images/generations; the request is an entry of the account's \"OpenAI API (inpainting)\" or \"(image to image)\" thread, priced by the denoising steps it runs. A repeat of the same body with the same token answers the first one's images.",
          security: SECURITY,
          consumes: ['multipart/form-data', 'application/json'],
          body: OpenAiEditRequestSchema,
          response: {
            200: { description: 'The images', ...ImagesResponse },
            400: errorResponse('Bad input (an unreadable image names image or mask); `param` names the field'),
            413: errorResponse('Body larger than SDAPI_IMAGE_BODY_LIMIT'),
            ...GENERATION_ERRORS,
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const body = request.body;
        const { generation, kind } = await toEditBody(body, deps.engines);
        const repeatKey = auth.tokenId ? { tokenId: auth.tokenId, body: { edit: body } } : undefined;
        const { entryId } = await deps.protocols.submit(auth.userId, 'openai', { body: generation }, repeatKey, kind);
        const outcome = await deps.protocols.waitFor(auth.userId, entryId, { timeoutMs: deps.syncTimeoutMs, signal: clientGone(request, reply) });
        return imagesAnswer(deps, body, settled(outcome));
      },
    );

    app.post<{ Body: OpenAiImageRequest }>(
      '/images/generations',
      {
        schema: {
          tags: [TAG],
          summary: 'Create images (OpenAI Images API)',
          description:
            'Synchronous: answers when the images are ready (at most SDAPI_SYNC_TIMEOUT, then 504). The request is an entry of the account\'s "OpenAI API" thread, priced and charged like any other. A repeat of the same body with the same token while the first runs, or within 10 minutes of its end, answers the first one\'s images (the SDKs retry on their own).',
          security: SECURITY,
          body: OpenAiImageRequestSchema,
          response: {
            200: { description: 'The images (or, with stream: true, text/event-stream events)', ...ImagesResponse },
            400: errorResponse('Bad input; `param` names the field'),
            ...GENERATION_ERRORS,
          },
        },
      },
      async (request, reply) => {
        const auth = requireAuth(request);
        const body = request.body;
        const engine = pickEngine(deps.engines, body.model);
        const generation = toGenerationBody(body, engine);
        const repeatKey = auth.tokenId ? { tokenId: auth.tokenId, body } : undefined;
        const { entryId } = await deps.protocols.submit(auth.userId, 'openai', { body: generation }, repeatKey);
        const signal = clientGone(request, reply);
        if (body.stream) return streamImages(deps, request, reply, { userId: auth.userId, entryId, body, signal });
        const outcome = await deps.protocols.waitFor(auth.userId, entryId, { timeoutMs: deps.syncTimeoutMs, signal });
        return imagesAnswer(deps, body, settled(outcome));
      },
    );
  };
}

/** The ImagesResponse of finished images: urls, or the bytes in the format asked for. */
async function imagesAnswer(deps: OpenAiRouteDeps, body: Pick<OpenAiImageRequest, 'response_format' | 'output_format' | 'output_compression'>, done: Extract<ProtocolOutcome, { status: 'done' }>) {
  const format = body.output_format ?? 'png';
  const data = await Promise.all(
    done.images.map(async (image) =>
      body.response_format === 'b64_json'
        ? { b64_json: (await deps.protocols.imageBytes(image, format, body.output_compression)).toString('base64'), revised_prompt: null }
        : { url: image.item.url, revised_prompt: null },
    ),
  );
  return { created: Math.floor(Date.parse(done.createdAt) / 1000), data };
}

const DATA_URL = /^data:[^,]*;base64,/i;

/** The bytes of an inline image (a data: URL or base64), when they can be read here; undefined for anything else. */
function inlineBytes(text: string): Buffer | undefined {
  const trimmed = text.trim();
  const m = DATA_URL.exec(trimmed);
  const b64 = m ? trimmed.slice(m[0].length) : trimmed;
  if (b64 === '' || !isBase64(b64)) return undefined;
  const bytes = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
  return bytes.length > 0 && bytes.length <= INPUT_IMAGE_BYTES_MAX ? bytes : undefined;
}

/** sharp on an untrusted image, with the service's pixel limit (a claimed 20000×20000 fails before decoding). */
const openImage = (bytes: Buffer) => sharp(bytes, { limitInputPixels: INPUT_IMAGE_SIDE_MAX * INPUT_IMAGE_SIDE_MAX, failOn: 'error', pages: 1 });

/**
 * OpenAI's mask (fully transparent pixels are edited) as ours: its alpha channel as a gray mask whose black is
 * repainted (MASK_IMAGE_BLACK). Undefined when the mask cannot be read here: the service then decodes it and answers
 * why (bad base64, not an image, too large), naming `mask`.
 */
async function alphaMask(text: string): Promise<{ mask: string } | { error: string } | undefined> {
  const bytes = inlineBytes(text);
  if (!bytes) return undefined;
  try {
    const meta = await openImage(bytes).metadata();
    if ((meta.width ?? 0) > INPUT_IMAGE_SIDE_MAX || (meta.height ?? 0) > INPUT_IMAGE_SIDE_MAX) return undefined;
    if (!meta.hasAlpha) return { error: 'The mask must have an alpha channel: its fully transparent pixels mark where to edit.' };
    const alpha = await openImage(bytes).ensureAlpha().extractChannel(3).png({ compressionLevel: 1 }).toBuffer();
    return { mask: `data:image/png;base64,${alpha.toString('base64')}` };
  } catch {
    return undefined;
  }
}

/** Whether an inline image has transparent pixels (false when it cannot be read here: the service says why). */
async function hasTransparency(text: string): Promise<boolean> {
  const bytes = inlineBytes(text);
  if (!bytes) return false;
  try {
    const meta = await openImage(bytes).metadata();
    if (!meta.hasAlpha || (meta.width ?? 0) > INPUT_IMAGE_SIDE_MAX || (meta.height ?? 0) > INPUT_IMAGE_SIDE_MAX) return false;
    return !(await openImage(bytes).stats()).isOpaque;
  } catch {
    return false;
  }
}

/**
 * /images/edits fields → our inpainting request (a mask, or transparency in the image) or image-to-image request
 * (an opaque image, no mask). Inpainting repaints the masked area fully (image_strength 0) unless told otherwise.
 */
export async function toEditBody(body: OpenAiEditRequest, engines: EngineCatalog): Promise<{ generation: GenerationRequestBody; kind: 'image' | 'inpaint' }> {
  const image = body.image[0];
  const mask = body.mask !== undefined && body.mask !== '' ? await alphaMask(body.mask) : undefined;
  if (mask && 'error' in mask) throw AppError.validation({ mask: [mask.error] });
  const inpaint = body.mask !== undefined && body.mask !== '' ? true : await hasTransparency(image);
  const engine = pickEngine(engines, body.model, (e) => e.model.imageInput && (inpaint || !e.model.inpaintUnet));
  const generation = toGenerationBody({ ...body, size: body.size ?? 'auto' }, engine);
  if (!body.size || body.size === 'auto') delete generation.resolution;
  generation.init_image = image;
  if (inpaint) {
    generation.image_strength = body.image_strength ?? 0;
    if (body.mask !== undefined && body.mask !== '') {
      generation.mask_image = mask?.mask ?? body.mask;
      generation.mask_source = 'MASK_IMAGE_BLACK';
    } else {
      generation.mask_source = 'INIT_IMAGE_ALPHA';
    }
    if (body.mask_blur !== undefined) generation.mask_blur = body.mask_blur;
  } else {
    if (body.image_strength !== undefined) generation.image_strength = body.image_strength;
    if (body.mask_blur !== undefined) throw AppError.validation({ mask_blur: ['The mask_blur applies only with a mask (or an image with transparent pixels).'] });
  }
  return { generation, kind: inpaint ? 'inpaint' : 'image' };
}

/** The engine a request names (id or alias), or the first one (`suits`: the first that suits the request). */
function pickEngine(engines: EngineCatalog, model: string | undefined, suits: (engine: Engine) => boolean = () => true): Engine {
  const engine = model === undefined || model === '' ? (engines.list().find(suits) ?? engines.list()[0]) : engines.find(model);
  if (!engine) throw AppError.validation({ engine: [`The model ${model ?? ''} does not exist. Valid: ${engines.acceptedIds().join(', ')}.`] });
  return engine;
}

/** OpenAI's fields → our request body (the entry service checks it against the engine). */
export function toGenerationBody(body: Omit<OpenAiImageRequest, 'style' | 'stream' | 'partial_images'> & { stream?: boolean }, engine: Engine): GenerationRequestBody {
  const fields: FieldErrors = {};
  if (body.background === 'transparent') fields.background = ['The background transparent is not supported: the engines draw opaque images.'];
  if (body.output_format && body.output_format !== 'png' && body.response_format !== 'b64_json' && !body.stream) {
    fields.output_format = [`The output_format ${body.output_format} needs response_format b64_json (or stream): url answers link the stored PNG.`];
  }
  if (Object.keys(fields).length > 0) throw AppError.validation(fields);
  const prompts = [{ text: body.prompt, weight: 1 }];
  if (body.negative_prompt) prompts.push({ text: body.negative_prompt, weight: -1 });
  const out: GenerationRequestBody = {
    engine: body.model || engine.id,
    resolution: !body.size || body.size === 'auto' ? engine.resolutions[0] : body.size,
    prompts,
    images: body.n ?? 1,
  };
  const steps = body.steps ?? stepsForQuality(body.quality, engine);
  if (steps !== undefined) out.steps = steps;
  if (body.seed !== undefined) out.seed = body.seed;
  if (body.cfg_scale !== undefined) out.cfg_scale = body.cfg_scale;
  if (body.sampler !== undefined) out.sampler = body.sampler;
  if (body.style_preset !== undefined) out.style = body.style_preset;
  return out;
}

/** `quality` as steps: low = half the engine's default, high/hd = 1.5 × (within the engine's range); others the default. */
function stepsForQuality(quality: OpenAiImageRequest['quality'], engine: Engine): number | undefined {
  const clamp = (n: number) => Math.max(engine.steps.min, Math.min(engine.steps.max, Math.round(n)));
  if (quality === 'low') return clamp(engine.steps.default / 2);
  if (quality === 'high' || quality === 'hd') return clamp(engine.steps.default * 1.5);
  return undefined;
}

/** A finished request's images; a failed or cancelled one as the error the route answers. */
function settled(outcome: ProtocolOutcome): Extract<ProtocolOutcome, { status: 'done' }> {
  if (outcome.status === 'done') return outcome;
  if (outcome.status === 'cancelled') throw new AppError('conflict', outcome.error);
  throw new AppError('internal', outcome.error);
}

/**
 * `stream: true`: server-sent events as the SDKs read them. Partial images come from the request's previews when the
 * service has them; then one image_generation.completed event per image. An error after the stream started is an
 * `error` event.
 */
async function streamImages(
  deps: OpenAiRouteDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  job: { userId: string; entryId: string; body: OpenAiImageRequest; signal: AbortSignal },
): Promise<FastifyReply> {
  const { body } = job;
  reply.hijack();
  const headers: Record<string, string | string[] | number> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
  reply.raw.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  const send = (event: string, data: unknown) => reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const format = body.output_format ?? 'png';
  // Partial images: the k-th of N for an image once its denoising reached (k+1)/(N+1) of the steps, from the live previews.
  const wanted = body.partial_images ?? 0;
  const sentFor = new Map<number, number>();
  let partials = Promise.resolve();
  const onPreview = (preview: LivePreview) => {
    const index = sentFor.get(preview.image) ?? 0;
    if (index >= wanted || preview.step < (preview.steps * (index + 1)) / (wanted + 1)) return;
    sentFor.set(preview.image, index + 1);
    partials = partials.then(async () => {
      // A preview that cannot be converted is skipped: partial images are a courtesy, the result is not.
      const bytes = format === 'jpeg' ? preview.jpeg : await sharp(preview.jpeg)[format]().toBuffer().catch(() => undefined);
      if (!bytes) return;
      send('image_generation.partial_image', {
        type: 'image_generation.partial_image',
        b64_json: bytes.toString('base64'),
        partial_image_index: index,
        created_at: Math.floor(Date.now() / 1000),
        size: body.size && body.size !== 'auto' ? body.size : 'auto',
        quality: body.quality ?? 'auto',
        background: 'opaque',
        output_format: format,
      });
    });
  };
  try {
    const outcome = await deps.protocols.waitFor(job.userId, job.entryId, { timeoutMs: deps.syncTimeoutMs, signal: job.signal, onPreview: wanted > 0 ? onPreview : undefined });
    await partials;
    const done = settled(outcome);
    const createdAt = Math.floor(Date.parse(done.createdAt) / 1000);
    for (const image of done.images) {
      const b64 = (await deps.protocols.imageBytes(image, format, body.output_compression)).toString('base64');
      send('image_generation.completed', {
        type: 'image_generation.completed',
        b64_json: b64,
        created_at: createdAt,
        size: image.item.dimensions,
        quality: body.quality ?? 'auto',
        background: 'opaque',
        output_format: format,
        usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0, input_tokens_details: { image_tokens: 0, text_tokens: 0 } },
      });
    }
  } catch (err) {
    const problem = toProblem(err as Error);
    logProblem(request, err as Error, problem);
    send('error', { type: 'error', error: openAiError(problem).body.error });
  }
  reply.raw.end();
  return reply;
}

interface OpenAiErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

function sendError(reply: FastifyReply, status: number, error: OpenAiErrorObject): FastifyReply {
  return reply.status(status).type('application/json; charset=utf-8').send({ error });
}

function rateLimitBody(retryAfterSeconds: number) {
  return { error: { message: `Rate limit reached for requests. Please try again in ${retryAfterSeconds}s.`, type: 'requests', param: null, code: 'rate_limit_exceeded' } };
}

/** A classified problem as OpenAI answers it: status, `{error: {...}}`, and whether a client should retry. */
export function openAiError(problem: Problem): { status: number; body: { error: OpenAiErrorObject }; retry?: boolean } {
  const invalid = (status: number, message: string, param: string | null, code: string | null) => ({ status, body: { error: { message, type: 'invalid_request_error', param, code } } });
  if (problem.status === 401) {
    return invalid(401, 'Incorrect API key provided. Send an sdapi bearer token: Authorization: Bearer <token>.', null, 'invalid_api_key');
  }
  if (problem.fields) {
    const fields = renameFields(problem.fields, FIELD_NAMES);
    const messages = Object.values(fields).flat();
    return invalid(400, messages.join(' '), Object.keys(fields)[0] ?? null, 'invalid_value');
  }
  if (problem.code === 'insufficient_credits') {
    return { status: 429, body: { error: { message: `You exceeded your current quota: ${problem.message}`, type: 'insufficient_quota', param: null, code: 'insufficient_quota' } }, retry: false };
  }
  if (problem.code === 'timeout') return { status: 504, body: { error: { message: problem.message, type: 'server_error', param: null, code: 'timeout' } } };
  if (problem.status === 429) return { status: 429, body: rateLimitBody(problem.retryAfterSeconds ?? 1) };
  if (problem.status === 409) return { ...invalid(409, problem.message, null, 'cancelled'), retry: false };
  if (problem.status === 404) return invalid(404, problem.message, null, 'not_found');
  if (problem.status === 413) return invalid(413, problem.message, null, 'payload_too_large');
  if (problem.status < 500) return invalid(problem.status === 415 ? 415 : 400, problem.message, null, null);
  const message = problem.internal ? 'The server had an error while processing your request.' : problem.message;
  return { status: problem.status >= 500 ? problem.status : 500, body: { error: { message, type: 'server_error', param: null, code: null } }, retry: problem.code !== 'internal' };
}

async function openAiErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const problem = toProblem(error);
  logProblem(request, error, problem);
  const answer = openAiError(problem);
  // The SDKs retry 409, 429 and 5xx unless told not to: no retry can help a quota, a cancel or a failed generation.
  if (answer.retry === false || problem.code === 'internal') reply.header('x-should-retry', 'false');
  if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds));
  return reply.status(answer.status).type('application/json; charset=utf-8').send(answer.body);
}
