/**
 * The second half of a request's one validation pass. The route's schema has already checked the body's shape
 * (its errors come in as `schemaErrors`); this adds the rules that depend on the engine (engine id, resolution,
 * step and cfg ranges, sampler, style) and the few a schema cannot say (blank text, a positive prompt), for every
 * field the schema found well-formed, and throws one 422 naming every bad field. On success it returns the
 * GenerationRequest with its defaults filled, and its engine. Everything it reads is in memory (the registry and the
 * models' manifests): checking a request never loads a model.
 */
import { denoisingSteps, type SamplerName } from '../../engine/index.ts';
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import {
  diffusersStrength,
  hiresSize,
  parseResolution,
  PROMPT_TEXT_MAX,
  type GenerationRequest,
  type GenerationRequestBody,
  type MaskSource,
  HIRES_STRENGTH_DEFAULT,
  IMAGE_STRENGTH_DEFAULT,
  STEP_SCHEDULE_START_DEFAULT,
} from '../../domain/generation-request.ts';
import { canonicalSampler, type Engine, type EngineCatalog } from '../generation/engine-catalog.ts';
import type { AiVersion } from '../threads/ai-versions.ts';

export interface RequestSubmission {
  body: GenerationRequestBody;
  /** What the shape check found, as `{field: [messages]}` (dotted paths: prompts.0.text); empty when it passed. */
  schemaErrors?: FieldErrors;
}

/** What the service learnt about the body's images before the check (decoded, or why they cannot be used). */
export interface InputImageFacts {
  init?: { width: number; height: number; hasAlpha: boolean };
  mask?: { width: number; height: number };
  /** init_image / mask_image messages (bad file, not found, too large). */
  errors?: FieldErrors;
}

export interface CheckContext {
  /** What the thread's AI version takes; absent (POST /quote): whatever the body's fields say. */
  inputs?: AiVersion['inputs'];
  images?: InputImageFacts;
}

/** A checked request and the engine that runs it (the request's `engine` may be one of its aliases). */
export interface CheckedRequest {
  request: GenerationRequest;
  engine: Engine;
  /** Denoising steps it runs: `steps`, or what the strength leaves of them (diffusers' int(steps × strength)). */
  runSteps: number;
  /** Hires fix: the output size and the refinement's denoising steps (priced as a second request at that size). */
  hires?: { width: number; height: number; runSteps: number };
}

/** Body fields that only mean something with an init image (or, the last three, with a mask). */
const IMAGE_ONLY = ['image_strength', 'init_image_mode', 'step_schedule_start', 'step_schedule_end'] as const;
const MASK_ONLY = ['mask_image', 'mask_source', 'mask_blur'] as const;

export function checkGenerationRequest(submission: RequestSubmission, engines: EngineCatalog, context: CheckContext = {}): CheckedRequest {
  const errors: FieldErrors = structuredClone(submission.schemaErrors ?? {});
  for (const [field, messages] of Object.entries(context.images?.errors ?? {})) (errors[field] ??= []).push(...messages);
  const fail = (field: string, message: string) => void (errors[field] ??= []).push(message);
  /** A field the schema found malformed (or inside one) is not checked again: one message per problem. */
  const malformed = (field: string) => Object.keys(errors).some((k) => k === field || k.startsWith(`${field}.`));
  const body = submission.body;
  // A body that is not an object (JSON null, an array) has no fields to check.
  if (errors.body || typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw AppError.validation(errors.body ? errors : { ...errors, body: ['The request body must be an object.'] });
  }

  let engine: Engine | undefined;
  if (!malformed('engine')) {
    engine = engines.find(body.engine);
    if (body.engine === '') fail('engine', 'The engine field is required.');
    else if (!engine) fail('engine', `The selected engine is invalid. Valid: ${engines.acceptedIds().join(', ')}.`);
  }

  const image = checkImageFields(body, context, engine, fail, malformed);

  let size: { width: number; height: number } | undefined;
  if (!malformed('resolution')) {
    const init = context.images?.init;
    // Without a resolution, an image request takes the engine's resolution closest to its init image.
    const resolution = body.resolution ?? (init && engine ? nearestResolution(engine.resolutions, init) : '');
    size = parseResolution(resolution);
    if (resolution === '') fail('resolution', body.init_image !== undefined && !init ? 'The resolution field is required when the init_image cannot be read.' : 'The resolution field is required.');
    else if (!size) fail('resolution', 'The resolution must look like WIDTHxHEIGHT, e.g. 1024x1024.');
    else if (engine && !engine.resolutions.includes(resolution)) fail('resolution', `The resolution must be one of: ${engine.resolutions.join(', ')}.`);
  }

  if (!malformed('prompts')) {
    body.prompts.forEach((p, i) => {
      if (p.text.trim() === '') fail(`prompts.${i}.text`, 'The prompt text is required.');
      // The schema counts characters (code points); the stored and tokenized text is bounded in UTF-16 units too.
      else if (p.text.length > PROMPT_TEXT_MAX) fail(`prompts.${i}.text`, `The prompt text may not be greater than ${PROMPT_TEXT_MAX} characters.`);
    });
    if (!body.prompts.some((p) => (p.weight ?? 1) > 0)) fail('prompts', 'At least one prompt must have a positive weight.');
  }

  if (engine && body.steps !== undefined && !malformed('steps') && (body.steps < engine.steps.min || body.steps > engine.steps.max)) {
    fail('steps', `The steps must be between ${engine.steps.min} and ${engine.steps.max}.`);
  }

  if (engine && body.cfg_scale !== undefined && !malformed('cfg_scale') && (body.cfg_scale < engine.cfg.min || body.cfg_scale > engine.cfg.max)) {
    fail('cfg_scale', `The cfg_scale must be between ${engine.cfg.min} and ${engine.cfg.max}.`);
  }

  if (body.style !== undefined && !malformed('style')) {
    const styles = engines.styles();
    if (!styles.includes(body.style)) fail('style', `The style must be one of: ${styles.join(', ')}.`);
  }

  // An empty sampler (a blank form field) means the engine's default, as an absent one does.
  const sampler = body.sampler === undefined || body.sampler === '' || malformed('sampler') ? undefined : canonicalSampler(body.sampler);
  if (sampler !== undefined && engine && !engine.samplers.some((s) => s === sampler)) {
    fail('sampler', `The sampler must be one of: ${engine.samplers.join(', ')}.`);
  }

  let runSteps = 0;
  if (engine && size && !malformed('steps') && !malformed('sampler')) {
    const steps = body.steps ?? engine.steps.default;
    runSteps = steps;
    const strength = image ? diffusersStrength(image) : undefined;
    if (strength !== undefined && strength >= 0 && strength <= 1 && !malformed('image_strength') && !malformed('step_schedule_start')) {
      runSteps = denoisingSteps(engine.model, { steps, strength, sampler: (sampler ?? engine.defaultSampler) as SamplerName });
      if (runSteps < 1) {
        const field = image?.init_image_mode === 'STEP_SCHEDULE' ? 'step_schedule_start' : 'image_strength';
        const more = field === 'image_strength' ? 'lower the image_strength' : 'raise the step_schedule_start';
        fail(field, `The ${field} leaves no denoising step to run with ${steps} steps (diffusers runs int(steps × strength) of them, strength = ${field === 'image_strength' ? '1 − image_strength' : 'step_schedule_start'}): ${more} or raise the steps.`);
      }
    }
  }

  const hires = body.hires !== undefined && !malformed('hires') && engine && size ? checkHires(body, engine, size, sampler, image !== undefined, fail) : undefined;

  if (Object.keys(errors).length > 0 || !engine || !size) throw AppError.validation(errors);

  // The published `content` of the request entry: the tutorial's fields in its order, then what the caller added.
  // `engine` echoes the id the client sent (an alias stays an alias); the job records the canonical one.
  const request: GenerationRequest = {
    prompts: body.prompts.map((p) => ({ text: p.text, weight: p.weight ?? 1 })),
    engine: body.engine,
    style: body.style ?? null,
    images: body.images ?? 1,
    steps: body.steps ?? engine.steps.default,
    resolution: `${size.width}x${size.height}`,
  };
  if (body.seed !== undefined) request.seed = body.seed;
  if (body.cfg_scale !== undefined) request.cfg_scale = body.cfg_scale;
  if (sampler !== undefined) request.sampler = sampler;
  if (body.preview === false) request.preview = false;
  if (image) Object.assign(request, image);
  if (hires && body.hires) request.hires = { scale: body.hires.scale, strength: hires.strength, steps: hires.steps };
  return { request, engine, runSteps, ...(hires ? { hires: { width: hires.width, height: hires.height, runSteps: hires.runSteps } } : {}) };
}

/**
 * Hires fix: text-to-image only, on an engine that can encode images; the output (the resolution × scale, rounded to
 * the model's latent multiple) at most 4 × the area of the engine's largest resolution; the refinement must run a step.
 */
function checkHires(
  body: GenerationRequestBody,
  engine: Engine,
  size: { width: number; height: number },
  sampler: string | undefined,
  hasImage: boolean,
  fail: (field: string, message: string) => void,
): { width: number; height: number; strength: number; steps: number; runSteps: number } | undefined {
  const hires = body.hires;
  if (!hires) return undefined;
  let ok = true;
  const no = (field: string, message: string) => {
    ok = false;
    fail(field, message);
  };
  if (hasImage || body.init_image !== undefined) no('hires', 'The hires fix applies to text-to-image requests only.');
  if (!engine.model.imageInput) no('hires', `The engine ${body.engine} cannot refine an upscaled image: its model has no VAE encoder (vae_encoder/model.onnx).`);
  const steps = hires.steps ?? body.steps ?? engine.steps.default;
  if (steps < engine.steps.min || steps > engine.steps.max) no('hires.steps', `The hires steps must be between ${engine.steps.min} and ${engine.steps.max}.`);
  const { width, height } = hiresSize(size, hires.scale, engine.model.latentMultiple);
  const maxArea = 4 * Math.max(...engine.resolutions.map((r) => parseResolution(r)).map((r) => (r ? r.width * r.height : 0)));
  if (width * height > maxArea) {
    no('hires.scale', `The hires output ${width}x${height} is larger than this engine allows (${maxArea} pixels, 4 × its largest resolution): lower the scale.`);
  }
  const strength = hires.strength ?? HIRES_STRENGTH_DEFAULT;
  const runSteps = ok ? denoisingSteps(engine.model, { steps, strength, sampler: (sampler ?? engine.defaultSampler) as SamplerName }) : 0;
  if (ok && runSteps < 1) no('hires.strength', `The hires strength leaves no denoising step to run with ${steps} steps (int(steps × strength) must be at least 1): raise it or the hires steps.`);
  return ok ? { width, height, strength, steps, runSteps } : undefined;
}

type ImageRequestFields = Pick<
  GenerationRequest,
  'init_image' | 'mask_image' | 'init_image_mode' | 'image_strength' | 'step_schedule_start' | 'step_schedule_end' | 'mask_source' | 'mask_blur'
>;

/**
 * The image fields against the thread's kind and the engine; with an init image, what the request keeps of them
 * (defaults filled: image_strength, mask_source). `init_image`/`mask_image` keep the body's text here: the service
 * replaces it with the url of its own copy.
 */
function checkImageFields(
  body: GenerationRequestBody,
  context: CheckContext,
  engine: Engine | undefined,
  fail: (field: string, message: string) => void,
  malformed: (field: string) => boolean,
): ImageRequestFields | undefined {
  const present = (field: keyof GenerationRequestBody): boolean => body[field] !== undefined;
  const hasInit = present('init_image');
  const maskSource: MaskSource | undefined = body.mask_source ?? (hasInit && (present('mask_image') || context.inputs === 'inpaint') ? (present('mask_image') ? 'MASK_IMAGE_WHITE' : 'INIT_IMAGE_ALPHA') : undefined);
  const inpaint = maskSource !== undefined;
  const kind = context.inputs ?? (hasInit ? (inpaint ? 'inpaint' : 'image') : 'text');
  const THREADS = 'a thread with ai_version_code stablediffusion_img2img or stablediffusion_inpaint';

  if (kind === 'text') {
    if (hasInit) fail('init_image', `An init_image needs ${THREADS}.`);
    for (const field of [...IMAGE_ONLY, ...MASK_ONLY]) if (present(field) && !hasInit) fail(field, `The ${field} applies only with an init_image.`);
    if (engine?.model.inpaintUnet) fail('engine', `The engine ${body.engine} is an inpainting model: it needs an init_image and a mask (${THREADS.replace('stablediffusion_img2img or ', '')}).`);
    return undefined;
  }
  if (!hasInit) {
    if (!malformed('init_image')) fail('init_image', 'The init_image field is required in this thread.');
    return undefined;
  }
  if (kind === 'image') {
    for (const field of MASK_ONLY) if (present(field)) fail(field, `The ${field} needs a thread with ai_version_code stablediffusion_inpaint.`);
  } else if (!malformed('mask_source') && !malformed('mask_image')) {
    if (maskSource === 'INIT_IMAGE_ALPHA') {
      if (present('mask_image')) fail('mask_image', 'The mask_image is not used with mask_source INIT_IMAGE_ALPHA (the init_image’s alpha is the mask).');
      else if (context.images?.init && !context.images.init.hasAlpha) fail('init_image', 'The init_image has no alpha channel to use as the mask (mask_source INIT_IMAGE_ALPHA): send a PNG or WebP with transparency, or a mask_image.');
    } else if (!present('mask_image')) {
      fail('mask_image', `The mask_image field is required with mask_source ${maskSource ?? 'MASK_IMAGE_WHITE'}.`);
    }
  }

  const mode = body.init_image_mode ?? 'IMAGE_STRENGTH';
  if (mode === 'STEP_SCHEDULE') {
    if (present('image_strength')) fail('image_strength', 'The image_strength is not used with init_image_mode STEP_SCHEDULE: send step_schedule_start.');
    if (body.step_schedule_end !== undefined && body.step_schedule_end < 1 && !malformed('step_schedule_end')) {
      fail('step_schedule_end', 'The step_schedule_end must be 1: ending the schedule early is not supported.');
    }
  } else {
    for (const field of ['step_schedule_start', 'step_schedule_end'] as const) if (present(field)) fail(field, `The ${field} applies only with init_image_mode STEP_SCHEDULE.`);
  }

  if (engine && !engine.model.imageInput) fail('engine', `The engine ${body.engine} cannot start from an image: its model has no VAE encoder (vae_encoder/model.onnx).`);
  if (engine?.model.inpaintUnet && !inpaint) fail('engine', `The engine ${body.engine} is an inpainting model: it needs a mask (a stablediffusion_inpaint thread).`);

  const fields: ImageRequestFields = { init_image: body.init_image };
  if (kind === 'inpaint' && body.mask_image !== undefined) fields.mask_image = body.mask_image;
  fields.init_image_mode = mode;
  if (mode === 'STEP_SCHEDULE') {
    fields.step_schedule_start = body.step_schedule_start ?? STEP_SCHEDULE_START_DEFAULT;
    if (body.step_schedule_end !== undefined) fields.step_schedule_end = body.step_schedule_end;
  } else {
    fields.image_strength = body.image_strength ?? IMAGE_STRENGTH_DEFAULT;
  }
  if (kind === 'inpaint' && maskSource) {
    fields.mask_source = maskSource;
    if (body.mask_blur !== undefined) fields.mask_blur = body.mask_blur;
  }
  return fields;
}

/**
 * The resolution for an init image of `size` when the request names none: the engine's resolution whose aspect ratio
 * is closest to the image's (then the closest area); the image is stretched to it, as diffusers resizes.
 */
export function nearestResolution(resolutions: readonly string[], size: { width: number; height: number }): string {
  const ratio = Math.log(size.width / size.height);
  const area = Math.log(size.width * size.height);
  let best = resolutions[0] ?? '';
  let bestScore = [Infinity, Infinity];
  for (const r of resolutions) {
    const s = parseResolution(r);
    if (!s) continue;
    const score = [Math.abs(Math.log(s.width / s.height) - ratio), Math.abs(Math.log(s.width * s.height) - area)];
    if (score[0] < bestScore[0] - 1e-9 || (Math.abs(score[0] - bestScore[0]) <= 1e-9 && score[1] < bestScore[1])) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}
