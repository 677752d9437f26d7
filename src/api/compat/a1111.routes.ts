/**
 * AUTOMATIC1111's web UI API under /sdapi/v1 (modules/api/api.py and models.py upstream), for the tools written
 * against it: txt2img and img2img (synchronous), progress, interrupt, sd-models, samplers, options. Requests become ordinary
 * request entries in the account's "A1111 API" thread (ProtocolService): same check, price, credits, queue and
 * engines as POST /threads/{guid}/entry, with A1111's field names and answers. Unlike A1111, progress and interrupt
 * concern only the caller's own most recent request from this surface. Errors are FastAPI's `{"detail": …}`.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import type { Entry } from '../../domain/entry.ts';
import { INPUT_IMAGE_TEXT_MAX, MASK_BLUR_MAX, NO_NUL, PROMPT_TEXT_MAX, SEED_MAX, type GenerationRequestBody } from '../../domain/generation-request.ts';
import { isBase64 } from '../../services/entries/input-images.ts';
import type { Engine, EngineCatalog } from '../../services/generation/engine-catalog.ts';
import { parametersText, parseParametersText, readTextChunks } from '../../services/generation/png-text.ts';
import type { ApplicationService } from '../../services/identity/applications.ts';
import type { ProtocolOutcome, ProtocolService } from '../../services/protocols/protocol-service.ts';
import { requireAuth } from '../auth.ts';
import { logProblem, toProblem, type Problem } from '../errors.ts';
import type { RateLimit } from '../rate-limit.ts';
import { Nullable } from '../schemas.ts';
import { clientGone, renameFields, surfaceAuthHook } from './surface.ts';

export const A1111_PREFIX = '/sdapi/v1';
const TAG = 'AUTOMATIC1111 API';
const SECURITY: { [scheme: string]: string[] }[] = [{ basicAuth: [] }, { bearerAuth: [] }];

export interface A1111RouteDeps {
  protocols: ProtocolService;
  engines: EngineCatalog;
  applications: ApplicationService;
  rateLimit?: RateLimit;
  /** How long txt2img waits before the 504 (SDAPI_SYNC_TIMEOUT). */
  syncTimeoutMs: number;
  /** Injected in tests; the time ETAs are measured against. */
  now?: () => number;
  /** The body limit of img2img, which carries images (SDAPI_IMAGE_BODY_LIMIT). */
  imageBodyLimit?: number;
}

/** A1111's sampler names → ours (its aliases as /samplers lists them). */
export const A1111_SAMPLERS: readonly { name: string; ours: string; aliases: string[] }[] = [
  { name: 'DPM++ 2M', ours: 'dpmpp_2m', aliases: ['k_dpmpp_2m'] },
  { name: 'DPM++ 2M Karras', ours: 'dpmpp_2m_karras', aliases: ['k_dpmpp_2m_ka'] },
  { name: 'Euler a', ours: 'euler_a', aliases: ['k_euler_a', 'k_euler_ancestral'] },
  { name: 'Euler', ours: 'euler', aliases: ['k_euler'] },
  { name: 'LMS', ours: 'lms', aliases: ['k_lms'] },
  { name: 'DDIM', ours: 'ddim', aliases: [] },
  { name: 'PNDM', ours: 'pndm', aliases: [] },
  { name: 'LCM', ours: 'lcm', aliases: ['k_lcm'] },
];
/** Schedulers (A1111 1.9+): automatic/uniform keep the sampler's own; karras selects DPM++ 2M Karras. */
const SCHEDULERS = ['automatic', 'uniform', 'karras'] as const;

export const Txt2ImgRequestSchema = Type.Object(
  {
    prompt: Type.Optional(Type.String({ maxLength: PROMPT_TEXT_MAX, pattern: NO_NUL, default: '', description: 'Passed as it is: the (word:1.2) emphasis syntax is not interpreted' })),
    negative_prompt: Type.Optional(Type.String({ maxLength: PROMPT_TEXT_MAX, pattern: NO_NUL, default: '' })),
    styles: Type.Optional(Type.Array(Type.String({ maxLength: 50 }), { maxItems: 10, description: 'Names of our style presets apply (the first one); other names are ignored' })),
    seed: Type.Optional(Type.Integer({ minimum: -1, maximum: SEED_MAX, default: -1, description: '-1 (or 0): random; image i uses seed + i' })),
    sampler_name: Type.Optional(Nullable(Type.String({ maxLength: 50, description: `${A1111_SAMPLERS.map((s) => s.name).join(', ')} (or ours); default: the engine's` }))),
    sampler_index: Type.Optional(Nullable(Type.String({ maxLength: 50, description: 'Older name of sampler_name' }))),
    scheduler: Type.Optional(Nullable(Type.String({ maxLength: 50, description: 'Automatic, Uniform or Karras (Karras: with DPM++ 2M)' }))),
    batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 1 })),
    n_iter: Type.Optional(Type.Integer({ minimum: 1, maximum: 10, default: 1, description: 'batch_size × n_iter images, at most 10' })),
    steps: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "Within the engine's range; default: the engine's" })),
    cfg_scale: Type.Optional(Type.Number({ minimum: 0, maximum: 35, description: "Within the engine's range; default: the engine's" })),
    width: Type.Optional(Type.Integer({ minimum: 16, maximum: 8192, default: 512 })),
    height: Type.Optional(Type.Integer({ minimum: 16, maximum: 8192, default: 512 })),
    override_settings: Type.Optional(
      Nullable(
        Type.Object({
          sd_model_checkpoint: Type.Optional(Type.String({ maxLength: 200, description: 'An engine id or alias (GET /sdapi/v1/sd-models); default: the first engine offering width×height' })),
        }),
      ),
    ),
    send_images: Type.Optional(Type.Boolean({ default: true, description: 'false: answer without images' })),
  },
  {
    description: 'Other A1111 fields (alwayson_scripts, save_images, restore_faces, enable_hr, …) are accepted and ignored.',
    examples: [{ prompt: 'a red circle on a blue background', negative_prompt: 'blurry', seed: 42, sampler_name: 'Euler a', steps: 20, cfg_scale: 7, width: 512, height: 512, batch_size: 1 }],
  },
);
export type Txt2ImgRequest = Static<typeof Txt2ImgRequestSchema>;

/** A1111's default denoising_strength and mask_blur for img2img. */
const DENOISING_STRENGTH_DEFAULT = 0.75;
const MASK_BLUR_DEFAULT = 4;

const a1111Image = (description: string) => Type.String({ maxLength: INPUT_IMAGE_TEXT_MAX, description: `${description}: base64 or a data: URL of a PNG, JPEG or WebP (at most 10 MB and 4096 px a side), or the url or guid of an image of your account` });

export const Img2ImgRequestSchema = Type.Object(
  {
    ...Txt2ImgRequestSchema.properties,
    width: Type.Optional(Type.Integer({ minimum: 16, maximum: 8192, description: "Output width; with height absent too: the engine's resolution closest to the init image" })),
    height: Type.Optional(Type.Integer({ minimum: 16, maximum: 8192, description: 'Output height (see width)' })),
    init_images: Type.Array(a1111Image('The image to start from'), { minItems: 1, maxItems: 1, description: 'One image (A1111 takes a list; batches of different init images are not supported)' }),
    mask: Type.Optional(Nullable(a1111Image('Inpainting: the mask, stretched to the init image (white is repainted, unless inpainting_mask_invert)'))),
    denoising_strength: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: DENOISING_STRENGTH_DEFAULT, description: "diffusers' strength: 0 keeps the init image, 1 repaints it (runs int(steps × strength) steps)" })),
    inpainting_mask_invert: Type.Optional(Type.Integer({ minimum: 0, maximum: 1, default: 0, description: '0: white in the mask is repainted; 1: black is' })),
    mask_blur: Type.Optional(Type.Number({ minimum: 0, maximum: MASK_BLUR_MAX, default: MASK_BLUR_DEFAULT, description: 'Gaussian blur σ in pixels applied to the mask before it is binarised' })),
    include_init_images: Type.Optional(Type.Boolean({ default: false, description: 'Echo init_images and mask in parameters' })),
  },
  {
    description: 'Other A1111 fields (resize_mode, inpainting_fill, inpaint_full_res, alwayson_scripts, …) are accepted and ignored: the init image is stretched to the output size.',
    examples: [{ prompt: 'a lighthouse at dusk', init_images: ['<base64 PNG>'], denoising_strength: 0.5, steps: 20, width: 512, height: 512 }],
  },
);
export type Img2ImgRequest = Static<typeof Img2ImgRequestSchema>;

const Detail = Type.Object({ detail: Type.Unknown({ description: 'A message, or (422) FastAPI-style [{loc, msg, type}]' }) });
const detailResponse = (description: string) => ({ description, ...Detail });
const Txt2ImgResponse = Type.Object({
  images: Type.Array(Type.String(), { description: 'Base64 PNGs' }),
  parameters: Type.Record(Type.String(), Type.Unknown(), { description: 'The request, echoed with the values used' }),
  info: Type.String({ description: 'A JSON string: seed, all_seeds, prompt, all_prompts, sampler_name, steps, cfg_scale, width, height, sd_model_name, infotexts, …' }),
});
const ProgressResponse = Type.Object({
  progress: Type.Number(),
  eta_relative: Type.Number(),
  state: Type.Object({
    skipped: Type.Boolean(),
    interrupted: Type.Boolean(),
    job: Type.String(),
    job_count: Type.Integer(),
    job_timestamp: Type.String(),
    job_no: Type.Integer(),
    sampling_step: Type.Integer(),
    sampling_steps: Type.Integer(),
  }),
  current_image: Nullable(Type.String({ description: 'The preview (base64), when the service has one' })),
  textinfo: Nullable(Type.String()),
  current_task: Nullable(Type.String()),
});

/** Our request fields → A1111's, for 422 `loc`s. */
const FIELD_NAMES: Readonly<Record<string, string>> = {
  engine: 'override_settings.sd_model_checkpoint',
  resolution: 'width',
  images: 'batch_size',
  'prompts.0.text': 'prompt',
  'prompts.1.text': 'negative_prompt',
  prompts: 'prompt',
  style: 'styles',
  sampler: 'sampler_name',
  init_image: 'init_images',
  mask_image: 'mask',
  image_strength: 'denoising_strength',
  mask_source: 'inpainting_mask_invert',
  mask_blur: 'mask_blur',
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function a1111Routes(deps: A1111RouteDeps): FastifyPluginAsync {
  const now = deps.now ?? Date.now;

  /**
   * One generation for the caller through the protocol service: submitted, waited for, its images read as base64
   * (none when `send_images` is false). An interrupted one answers with the images finished before the interrupt.
   */
  async function generate(
    request: FastifyRequest<{ Body: { send_images?: boolean } }>,
    reply: FastifyReply,
    generation: Parameters<ProtocolService['submit']>[2]['body'],
    kind?: Parameters<ProtocolService['submit']>[4],
  ): Promise<{ outcome: ProtocolOutcome; images: string[] }> {
    const auth = requireAuth(request);
    const { entryId } = await deps.protocols.submit(auth.userId, 'a1111', { body: generation }, undefined, kind);
    const outcome = await deps.protocols.waitFor(auth.userId, entryId, { timeoutMs: deps.syncTimeoutMs, signal: clientGone(request, reply) });
    if (outcome.status === 'failed') throw new AppError('internal', outcome.error);
    const images = request.body.send_images !== false ? await Promise.all(outcome.images.map(async (image) => (await deps.protocols.imageBytes(image)).toString('base64'))) : [];
    return { outcome, images };
  }

  /** The checkpoint the caller chose with POST /options, if any. */
  async function accountCheckpoint(request: FastifyRequest): Promise<string | undefined> {
    const chosen = (await deps.protocols.settings(requireAuth(request).userId, 'a1111')).sd_model_checkpoint;
    return typeof chosen === 'string' ? chosen : undefined;
  }

  return async (app) => {
    app.addHook('onRequest', surfaceAuthHook({ applications: deps.applications, basic: true, rateLimit: deps.rateLimit && { ...deps.rateLimit, errorBody: () => ({ detail: 'Too Many Requests' }) } }));
    app.setErrorHandler(a1111ErrorHandler);
    app.setNotFoundHandler((_request, reply) => {
      reply.status(404).send({ detail: 'Not Found' });
    });

    app.post<{ Body: Txt2ImgRequest }>(
      '/txt2img',
      {
        schema: {
          tags: [TAG],
          summary: 'Text to image (AUTOMATIC1111)',
          description:
            'Synchronous: answers when the images are ready (at most SDAPI_SYNC_TIMEOUT, then 504). The request is an entry of the account\'s "A1111 API" thread, priced and charged like any other (402 when the credits are too few).',
          security: SECURITY,
          body: Txt2ImgRequestSchema,
          response: {
            200: Txt2ImgResponse,
            401: detailResponse('Bad or missing token (Basic: any user name, the token as the password)'),
            402: detailResponse('Too few credits'),
            422: detailResponse('Bad fields: [{loc, msg, type}]'),
            504: detailResponse('Not ready within SDAPI_SYNC_TIMEOUT'),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const { engine, generation } = toGenerationBody(body, deps.engines, { accountCheckpoint: await accountCheckpoint(request) });
        const { outcome, images } = await generate(request, reply, generation);
        return { images, parameters: echoParameters(body, outcome, engine), info: JSON.stringify(infoOf(body, outcome, engine)) };
      },
    );

    app.post<{ Body: Img2ImgRequest }>(
      '/img2img',
      {
        bodyLimit: deps.imageBodyLimit,
        schema: {
          tags: [TAG],
          summary: 'Image to image and inpainting (AUTOMATIC1111)',
          description:
            'init_images[0] is the image to start from; with a mask, inpainting (white repainted, or black with inpainting_mask_invert 1). denoising_strength is diffusers\' strength; the credits count the denoising steps actually run (int(steps × denoising_strength)). Synchronous like txt2img; the request is an entry of the account\'s "A1111 API (image to image)" or "(inpainting)" thread.',
          security: SECURITY,
          body: Img2ImgRequestSchema,
          response: {
            200: Txt2ImgResponse,
            401: detailResponse('Bad or missing token (Basic: any user name, the token as the password)'),
            402: detailResponse('Too few credits'),
            413: detailResponse('Body larger than SDAPI_IMAGE_BODY_LIMIT'),
            422: detailResponse('Bad fields (an unreadable image names init_images or mask): [{loc, msg, type}]'),
            504: detailResponse('Not ready within SDAPI_SYNC_TIMEOUT'),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        const { engine, generation, kind } = toImg2ImgBody(body, deps.engines, await accountCheckpoint(request));
        const { outcome, images } = await generate(request, reply, generation, kind);
        const parameters = { ...echoParameters(body, outcome, engine), init_images: body.include_init_images ? body.init_images : null, mask: body.include_init_images ? (body.mask ?? null) : null, denoising_strength: body.denoising_strength ?? DENOISING_STRENGTH_DEFAULT, inpainting_mask_invert: body.inpainting_mask_invert ?? 0, mask_blur: body.mask_blur ?? MASK_BLUR_DEFAULT, include_init_images: body.include_init_images ?? false };
        const info = { ...infoOf(body, outcome, engine), denoising_strength: body.denoising_strength ?? DENOISING_STRENGTH_DEFAULT, is_using_inpainting_conditioning: kind === 'inpaint' && engine.model.inpaintUnet };
        return { images, parameters, info: JSON.stringify(info) };
      },
    );

    app.get<{ Querystring: { skip_current_image?: boolean } }>(
      '/progress',
      {
        schema: {
          tags: [TAG],
          summary: "Progress of the caller's most recent txt2img",
          description:
            "Of the request most recently sent through /sdapi/v1 with this account (A1111 reports whatever job runs, anyone's). 0 with an empty state when none is queued or running. current_image: the latest live preview (a base64 JPEG), unless skip_current_image.",
          security: SECURITY,
          querystring: Type.Object({ skip_current_image: Type.Optional(Type.Boolean({ default: false })) }),
          response: { 200: ProgressResponse, 401: detailResponse('Bad or missing token') },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const { latest, unfinished: jobCount } = await deps.protocols.activity(auth.userId, 'a1111');
        const running = latest && latest.status === 'running' ? await deps.protocols.liveState(auth.userId, latest.threadId, latest.id) : {};
        return progressView(latest, jobCount, now(), { etaSeconds: running.etaSeconds, currentImage: request.query.skip_current_image ? undefined : running.preview?.toString('base64') });
      },
    );

    app.post(
      '/interrupt',
      {
        schema: {
          tags: [TAG],
          summary: "Interrupt the caller's most recent txt2img",
          description: "Cancels the account's most recent /sdapi/v1 request if it is still queued or running (its credits are refunded; its txt2img call answers without images). Never another account's.",
          security: SECURITY,
          response: { 200: Type.Object({}, { additionalProperties: true }), 401: detailResponse('Bad or missing token') },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        await deps.protocols.interrupt(auth.userId, 'a1111');
        return {};
      },
    );

    app.get(
      '/sd-models',
      {
        schema: {
          tags: [TAG],
          summary: 'The engines, as checkpoints',
          description: 'Name one in override_settings.sd_model_checkpoint.',
          security: SECURITY,
          response: {
            200: Type.Array(Type.Object({ title: Type.String(), model_name: Type.String(), hash: Nullable(Type.String()), sha256: Nullable(Type.String()), filename: Type.String(), config: Nullable(Type.String()) })),
            401: detailResponse('Bad or missing token'),
          },
        },
      },
      async (request) => {
        requireAuth(request);
        return deps.engines.list().map((e) => ({ title: e.id, model_name: e.id, hash: null, sha256: null, filename: e.id, config: null }));
      },
    );

    app.get(
      '/samplers',
      {
        schema: {
          tags: [TAG],
          summary: 'The samplers, with A1111 names',
          description: 'Those that at least one engine offers.',
          security: SECURITY,
          response: {
            200: Type.Array(Type.Object({ name: Type.String(), aliases: Type.Array(Type.String()), options: Type.Record(Type.String(), Type.String()) })),
            401: detailResponse('Bad or missing token'),
          },
        },
      },
      async (request) => {
        requireAuth(request);
        const offered = new Set(deps.engines.list().flatMap((e) => e.samplers as readonly string[]));
        return A1111_SAMPLERS.filter((s) => offered.has(s.ours)).map((s) => ({ name: s.name, aliases: s.aliases, options: {} }));
      },
    );

    app.get(
      '/options',
      {
        schema: {
          tags: [TAG],
          summary: 'The settings txt2img uses',
          description:
            "sd_model_checkpoint: the engine the account chose with POST /sdapi/v1/options, else the default (the first engine). A request's override_settings.sd_model_checkpoint wins over both.",
          security: SECURITY,
          response: { 200: Type.Record(Type.String(), Type.Unknown()), 401: detailResponse('Bad or missing token') },
        },
      },
      async (request) => {
        const chosen = await accountCheckpoint(request);
        // A choice whose engine left the registry reads as the default, as txt2img treats it.
        const engine = chosen === undefined ? undefined : findCheckpoint(chosen, deps.engines);
        return {
          sd_model_checkpoint: chosen !== undefined && engine ? engineName(chosen, engine) : (deps.engines.list()[0]?.id ?? null),
          sd_checkpoint_hash: null,
          samples_format: 'png',
          samples_save: true,
          save_images_add_number: true,
          enable_pnginfo: true,
          show_progress_every_n_steps: -1,
          live_previews_enable: false,
          CLIP_stop_at_last_layers: 1,
          eta_noise_seed_delta: 0,
          emphasis: 'None',
        };
      },
    );

    app.post<{ Body: Record<string, unknown> }>(
      '/options',
      {
        schema: {
          tags: [TAG],
          summary: "Sets the account's model (sd_model_checkpoint)",
          description:
            "What A1111 clients send to switch models: {\"sd_model_checkpoint\": \"<engine id, alias or title from /sdapi/v1/sd-models>\"} makes it the account's engine for txt2img (and img2img, when it takes an image) until changed; a request's override_settings still wins. Other settings are accepted and ignored. Answers null, as A1111 does; 422 names an unknown checkpoint.",
          security: SECURITY,
          body: Type.Record(Type.String({ maxLength: 200 }), Type.Unknown(), { maxProperties: 500 }),
          response: { 200: Type.Null(), 401: detailResponse('Bad or missing token'), 422: detailResponse('Bad fields: [{loc, msg, type}]') },
        },
      },
      async (request) => {
        const auth = requireAuth(request);
        const name = request.body.sd_model_checkpoint;
        if (name === undefined) return null;
        if (typeof name !== 'string' || name === '' || name.length > 200) {
          throw AppError.validation({ sd_model_checkpoint: ['The sd_model_checkpoint must be the name of a checkpoint of GET /sdapi/v1/sd-models (at most 200 characters).'] });
        }
        const engine = findCheckpoint(name, deps.engines);
        if (!engine) throw AppError.validation({ sd_model_checkpoint: [unknownCheckpoint(name, deps.engines)] });
        await deps.protocols.updateSettings(auth.userId, 'a1111', { sd_model_checkpoint: engineName(name, engine) });
        return null;
      },
    );

    app.get(
      '/schedulers',
      {
        schema: {
          tags: [TAG],
          summary: 'The schedulers txt2img accepts',
          description: 'Automatic (the sampler\'s own spacing), Uniform, and Karras (with DPM++ 2M).',
          security: SECURITY,
          response: {
            200: Type.Array(Type.Object({ name: Type.String(), label: Type.String(), aliases: Nullable(Type.Array(Type.String())), default_rho: Type.Number(), need_inner_model: Type.Boolean() })),
            401: detailResponse('Bad or missing token'),
          },
        },
      },
      async (request) => {
        requireAuth(request);
        return SCHEDULERS.map((name) => ({ name, label: name[0]!.toUpperCase() + name.slice(1), aliases: null, default_rho: name === 'karras' ? 7 : -1, need_inner_model: false }));
      },
    );

    app.get(
      '/prompt-styles',
      {
        schema: {
          tags: [TAG],
          summary: 'The style presets, as A1111 styles',
          description: 'Name one in styles; {prompt} marks where the request\'s prompt goes.',
          security: SECURITY,
          response: { 200: Type.Array(Type.Object({ name: Type.String(), prompt: Type.String(), negative_prompt: Type.String() })), 401: detailResponse('Bad or missing token') },
        },
      },
      async (request) => {
        requireAuth(request);
        return deps.engines.styleTemplates().map((style) => ({ name: style.name, prompt: style.prompt, negative_prompt: style.negativePrompt }));
      },
    );

    // What A1111 clients list or call around a model switch; sdapi has no separate VAEs or embeddings, and its engine
    // list is read at start (a changed registry needs a restart), so these answer empty.
    const emptyList = { tags: [TAG], security: SECURITY, response: { 200: Type.Array(Type.Unknown()), 401: detailResponse('Bad or missing token') } };
    app.get('/sd-vae', { schema: { ...emptyList, summary: 'Separate VAEs (none: each engine uses its own)' } }, async (request) => {
      requireAuth(request);
      return [];
    });
    app.get(
      '/embeddings',
      { schema: { tags: [TAG], security: SECURITY, summary: 'Textual-inversion embeddings (none)', response: { 200: Type.Object({ loaded: Type.Record(Type.String(), Type.Unknown()), skipped: Type.Record(Type.String(), Type.Unknown()) }), 401: detailResponse('Bad or missing token') } } },
      async (request) => {
        requireAuth(request);
        return { loaded: {}, skipped: {} };
      },
    );
    app.post(
      '/refresh-checkpoints',
      { schema: { tags: [TAG], security: SECURITY, summary: 'Accepted; the engine list is read at start (restart after changing the registry)', response: { 200: Type.Null(), 401: detailResponse('Bad or missing token') } } },
      async (request) => {
        requireAuth(request);
        return null;
      },
    );

    app.post<{ Body: { image: string } }>(
      '/png-info',
      {
        bodyLimit: deps.imageBodyLimit,
        schema: {
          tags: [TAG],
          summary: 'The generation parameters stored in a PNG',
          description:
            'Reads the PNG\'s tEXt "parameters" chunk (the one sdapi and A1111 write) into info (the text) and parameters (Prompt, Negative prompt, Steps, Sampler, CFG scale, Seed, Size-1, Size-2, Model, …); items holds the other text chunks. An image without them answers empty values.',
          security: SECURITY,
          body: Type.Object({ image: Type.String({ maxLength: INPUT_IMAGE_TEXT_MAX, description: 'base64 or a data: URL of a PNG' }) }),
          response: {
            200: Type.Object({ info: Type.String(), items: Type.Record(Type.String(), Type.String()), parameters: Type.Record(Type.String(), Type.String()) }),
            401: detailResponse('Bad or missing token'),
            422: detailResponse('Bad fields: [{loc, msg, type}]'),
          },
        },
      },
      async (request) => {
        requireAuth(request);
        const text = request.body.image.replace(/^data:[^,]*,/, '');
        if (!isBase64(text)) throw AppError.validation({ image: ['The image must be base64 or a data: URL.'] });
        const png = Buffer.from(text, 'base64');
        // Only a PNG has tEXt chunks (A1111 also reads JPEG/WebP EXIF; sdapi writes PNGs).
        const { parameters, ...items } = png.subarray(0, 8).equals(PNG_SIGNATURE) ? readTextChunks(png) : {};
        return { info: parameters ?? '', items, parameters: parameters ? parseParametersText(parameters) : {} };
      },
    );
  };
}

/** A1111's fields → our request body (the entry service checks it against the engine), and the engine chosen. */
export function toGenerationBody(
  body: Txt2ImgRequest,
  engines: EngineCatalog,
  options: { fields?: FieldErrors; suits?: (engine: Engine) => boolean; sizeOptional?: boolean; accountCheckpoint?: string } = {},
): { engine: Engine; generation: GenerationRequestBody } {
  const fields: FieldErrors = options.fields ?? {};
  const suits = options.suits ?? (() => true);
  const sized = !options.sizeOptional || body.width !== undefined || body.height !== undefined;
  const width = body.width ?? 512;
  const height = body.height ?? 512;
  const resolution = sized ? `${width}x${height}` : undefined;
  const requested = body.override_settings?.sd_model_checkpoint;
  // The per-request override wins; then the account's POST /options choice, when that engine can do the request.
  let checkpoint: string | undefined;
  let engine: Engine | undefined;
  if (requested) {
    checkpoint = requested;
    engine = findCheckpoint(requested, engines);
    if (!engine) fields['override_settings.sd_model_checkpoint'] = [unknownCheckpoint(requested, engines)];
  } else {
    const remembered = options.accountCheckpoint ? findCheckpoint(options.accountCheckpoint, engines) : undefined;
    if (remembered && suits(remembered)) {
      checkpoint = options.accountCheckpoint;
      engine = remembered;
    } else {
      const suitable = engines.list().filter(suits);
      engine = (resolution === undefined ? undefined : suitable.find((e) => e.resolutions.includes(resolution))) ?? suitable[0] ?? engines.list()[0];
    }
  }
  const images = (body.batch_size ?? 1) * (body.n_iter ?? 1);
  if (images > 10) fields.batch_size = ['The batch_size × n_iter may not be greater than 10.'];
  const sampler = samplerOf(body, fields);
  if (Object.keys(fields).length > 0 || !engine) throw AppError.validation(fields);
  const prompts = [{ text: body.prompt ?? '', weight: 1 }];
  if (body.negative_prompt) prompts.push({ text: body.negative_prompt, weight: -1 });
  const generation: GenerationRequestBody = { engine: checkpoint ? engineName(checkpoint, engine) : engine.id, prompts, images };
  if (resolution !== undefined) generation.resolution = resolution;
  if (body.steps !== undefined) generation.steps = body.steps;
  if (body.seed !== undefined && body.seed > 0) generation.seed = body.seed;
  if (body.cfg_scale !== undefined) generation.cfg_scale = body.cfg_scale;
  if (sampler !== undefined) generation.sampler = sampler;
  const style = body.styles?.find((s) => engines.styles().includes(s));
  if (style !== undefined) generation.style = style;
  return { engine, generation };
}

/** An A1111 checkpoint name → the engine: its id or alias, also as A1111 titles files ("name.safetensors [hash]"). */
export function findCheckpoint(name: string, engines: EngineCatalog): Engine | undefined {
  return engines.find(name) ?? engines.find(name.replace(/\s*\[[0-9a-f]+\]\s*$/i, '').replace(/\.(safetensors|ckpt|onnx)$/i, ''));
}

/** The name to request the engine by: the checkpoint as given when it is the engine's id or an alias, else the id. */
function engineName(checkpoint: string, engine: Engine): string {
  return checkpoint === engine.id || engine.aliases.includes(checkpoint) ? checkpoint : engine.id;
}

function unknownCheckpoint(name: string, engines: EngineCatalog): string {
  return `The checkpoint ${name} does not exist. Valid: ${engines.acceptedIds().join(', ')}.`;
}

/**
 * img2img's fields → our image-to-image or inpainting request: init_images[0] → init_image, denoising_strength
 * (diffusers' strength) → image_strength = 1 − it, mask → mask_image with inpainting_mask_invert as the mask_source.
 * Without width and height the service picks the engine resolution closest to the init image. Without a checkpoint,
 * the first engine that can start from an image is used.
 */
export function toImg2ImgBody(body: Img2ImgRequest, engines: EngineCatalog, accountCheckpoint?: string): { engine: Engine; generation: GenerationRequestBody; kind: 'image' | 'inpaint' } {
  const fields: FieldErrors = {};
  if (body.width === undefined && body.height !== undefined) fields.width = ['The width is required with a height.'];
  if (body.height === undefined && body.width !== undefined) fields.height = ['The height is required with a width.'];
  const inpaint = typeof body.mask === 'string' && body.mask !== '';
  const { engine, generation } = toGenerationBody(body, engines, { fields, sizeOptional: true, accountCheckpoint, suits: (e) => e.model.imageInput && (inpaint || !e.model.inpaintUnet) });
  generation.init_image = body.init_images[0];
  // Rounded so that 1 − 0.7 is 0.3 (a float error could drop a denoising step from int(steps × strength)).
  generation.image_strength = Math.round((1 - (body.denoising_strength ?? DENOISING_STRENGTH_DEFAULT)) * 1e6) / 1e6;
  if (inpaint && body.mask) {
    generation.mask_image = body.mask;
    generation.mask_source = body.inpainting_mask_invert === 1 ? 'MASK_IMAGE_BLACK' : 'MASK_IMAGE_WHITE';
    generation.mask_blur = body.mask_blur ?? MASK_BLUR_DEFAULT;
  }
  return { engine, generation, kind: inpaint ? 'inpaint' : 'image' };
}

/** sampler_name (or sampler_index) and scheduler → our sampler name; undefined = the engine's default. */
function samplerOf(body: Txt2ImgRequest, fields: FieldErrors): string | undefined {
  const requested = body.sampler_name ?? body.sampler_index ?? undefined;
  const scheduler = body.scheduler ? body.scheduler.toLowerCase() : undefined;
  if (scheduler !== undefined && !(SCHEDULERS as readonly string[]).includes(scheduler)) {
    fields.scheduler = [`The scheduler must be one of: Automatic, Uniform, Karras.`];
    return undefined;
  }
  if (requested === undefined || requested === '') {
    if (scheduler === 'karras') fields.scheduler = ['The scheduler Karras needs sampler_name DPM++ 2M.'];
    return undefined;
  }
  const known = A1111_SAMPLERS.find((s) => s.name.toLowerCase() === requested.toLowerCase() || s.aliases.includes(requested.toLowerCase()) || s.ours === requested);
  let ours = known?.ours ?? requested;
  if (scheduler === 'karras') {
    if (ours === 'dpmpp_2m') ours = 'dpmpp_2m_karras';
    else if (ours !== 'dpmpp_2m_karras') fields.scheduler = [`The scheduler Karras is available with DPM++ 2M only.`];
  }
  return ours;
}

/** The A1111 name of one of our samplers. */
function a1111Sampler(ours: string): string {
  return A1111_SAMPLERS.find((s) => s.ours === ours)?.name ?? ours;
}

interface UsedSettings {
  steps: number;
  cfgScale: number;
  sampler: string;
  width: number;
  height: number;
  seeds: number[];
  prompt: string;
  negativePrompt: string;
  style: string | null;
}

function usedSettings(body: Txt2ImgRequest, outcome: ProtocolOutcome, engine: Engine): UsedSettings {
  const { request } = outcome;
  const [width, height] = request.resolution.split('x').map(Number);
  return {
    steps: request.steps,
    cfgScale: request.cfg_scale ?? engine.cfg.default,
    sampler: a1111Sampler(request.sampler ?? engine.defaultSampler),
    width,
    height,
    seeds: outcome.status === 'failed' ? [] : outcome.images.map((i) => i.item.seed),
    prompt: body.prompt ?? '',
    negativePrompt: body.negative_prompt ?? '',
    style: request.style,
  };
}

/** The request as A1111 echoes it, with the values used where the caller left them out. */
function echoParameters(body: Txt2ImgRequest, outcome: ProtocolOutcome, engine: Engine): Record<string, unknown> {
  const used = usedSettings(body, outcome, engine);
  return {
    ...body,
    prompt: used.prompt,
    negative_prompt: used.negativePrompt,
    styles: body.styles ?? null,
    seed: body.seed ?? -1,
    sampler_name: body.sampler_name ?? used.sampler,
    scheduler: body.scheduler ?? null,
    batch_size: body.batch_size ?? 1,
    n_iter: body.n_iter ?? 1,
    steps: used.steps,
    cfg_scale: used.cfgScale,
    width: used.width,
    height: used.height,
    override_settings: body.override_settings ?? null,
    send_images: body.send_images ?? true,
  };
}

/** A1111's `info` (Processed.js()): what was generated, with the seed of every image. */
function infoOf(body: Txt2ImgRequest, outcome: ProtocolOutcome, engine: Engine): Record<string, unknown> {
  const used = usedSettings(body, outcome, engine);
  const count = used.seeds.length;
  const infotexts = used.seeds.map((seed) =>
    parametersText({ prompt: used.prompt, negativePrompt: used.negativePrompt, steps: used.steps, sampler: used.sampler, cfgScale: used.cfgScale, seed, width: used.width, height: used.height, model: engine.id, style: used.style }),
  );
  return {
    prompt: used.prompt,
    all_prompts: Array.from({ length: count }, () => used.prompt),
    negative_prompt: used.negativePrompt,
    all_negative_prompts: Array.from({ length: count }, () => used.negativePrompt),
    seed: used.seeds[0] ?? null,
    all_seeds: used.seeds,
    subseed: -1,
    all_subseeds: used.seeds.map(() => -1),
    subseed_strength: 0,
    width: used.width,
    height: used.height,
    sampler_name: used.sampler,
    cfg_scale: used.cfgScale,
    steps: used.steps,
    batch_size: body.batch_size ?? 1,
    restore_faces: false,
    face_restoration_model: null,
    sd_model_name: engine.id,
    sd_model_hash: null,
    sd_vae_name: null,
    sd_vae_hash: null,
    seed_resize_from_w: -1,
    seed_resize_from_h: -1,
    denoising_strength: null,
    extra_generation_params: used.style ? { Style: used.style } : {},
    index_of_first_image: 0,
    infotexts,
    styles: body.styles ?? [],
    job_timestamp: jobTimestamp(outcome.createdAt),
    clip_skip: 1,
    is_using_inpainting_conditioning: false,
    version: 'sdapi',
    interrupted: outcome.status === 'cancelled',
  };
}

/** `20260101123456`, as A1111 stamps jobs. */
function jobTimestamp(iso: string): string {
  return iso.replace(/\D/g, '').slice(0, 14);
}

/** GET /progress for the caller's latest request from this surface. */
export function progressView(latest: Entry | undefined, jobCount: number, now: number, live: { etaSeconds?: number; currentImage?: string } = {}) {
  const active = latest && (latest.status === 'queued' || latest.status === 'running') ? latest : undefined;
  const p = active?.progress;
  const fraction = p && p.steps > 0 && p.images > 0 ? Math.min(1, (p.image * p.steps + p.step) / (p.images * p.steps)) : 0;
  const elapsed = active ? Math.max(0, (now - Date.parse(active.createdAt)) / 1000) : 0;
  return {
    progress: fraction,
    // The service's ETA (from the step times) when it has one, else A1111's own estimate from the elapsed time.
    eta_relative: live.etaSeconds ?? (fraction > 0 ? Math.max(0, elapsed / fraction - elapsed) : 0),
    state: {
      skipped: false,
      interrupted: latest?.status === 'cancelled',
      job: active ? `task(${active.id})` : '',
      job_count: jobCount,
      job_timestamp: active ? jobTimestamp(active.createdAt) : '0',
      job_no: p?.image ?? 0,
      sampling_step: p?.step ?? 0,
      sampling_steps: p?.steps ?? 0,
    },
    current_image: live.currentImage ?? null,
    textinfo: null,
    current_task: active ? active.id : null,
  };
}

/** Messages about our image_strength, said in A1111's terms (denoising_strength = 1 − image_strength). */
function a1111Messages(fields: FieldErrors): FieldErrors {
  const strength = fields.image_strength;
  if (!strength) return fields;
  const said = strength.map((m) => (/leaves no denoising step/.test(m) ? 'The denoising_strength leaves no denoising step to run (int(steps × denoising_strength) is 0): raise the denoising_strength or the steps.' : m));
  return { ...fields, image_strength: said };
}

/** A classified problem as A1111 (FastAPI) answers it. */
export function a1111Error(problem: Problem): { status: number; body: { detail: unknown } } {
  if (problem.status === 401) return { status: 401, body: { detail: 'Incorrect username or password' } };
  if (problem.fields) {
    const fields = renameFields(a1111Messages(problem.fields), FIELD_NAMES);
    const detail = Object.entries(fields).flatMap(([path, messages]) => messages.map((msg) => ({ loc: ['body', ...path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))], msg, type: 'value_error' })));
    return { status: 422, body: { detail } };
  }
  if (problem.internal) return { status: 500, body: { detail: 'Internal Server Error' } };
  return { status: problem.status, body: { detail: problem.message } };
}

async function a1111ErrorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const problem = toProblem(error);
  logProblem(request, error, problem);
  const answer = a1111Error(problem);
  if (answer.status === 401) reply.header('www-authenticate', 'Basic');
  if (problem.retryAfterSeconds !== undefined) reply.header('retry-after', String(problem.retryAfterSeconds));
  return reply.status(answer.status).send(answer.body);
}
