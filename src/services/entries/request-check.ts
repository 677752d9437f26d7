/**
 * The second half of a request's one validation pass. The route's schema has already checked the body's shape
 * (its errors come in as `schemaErrors`); this adds the rules that depend on the engine (engine id, resolution,
 * step and cfg ranges, sampler, style) and the few a schema cannot say (blank text, a positive prompt), for every
 * field the schema found well-formed, and throws one 422 naming every bad field. On success it returns the
 * GenerationRequest with its defaults filled, and its engine. Everything it reads is in memory (the registry and the
 * models' manifests): checking a request never loads a model.
 */
import { AppError, type FieldErrors } from '../../domain/errors.ts';
import { parseResolution, PROMPT_TEXT_MAX, type GenerationRequest, type GenerationRequestBody } from '../../domain/generation-request.ts';
import { canonicalSampler, type Engine, type EngineCatalog } from '../generation/engine-catalog.ts';

export interface RequestSubmission {
  body: GenerationRequestBody;
  /** What the shape check found, as `{field: [messages]}` (dotted paths: prompts.0.text); empty when it passed. */
  schemaErrors?: FieldErrors;
}

/** A checked request and the engine that runs it (the request's `engine` may be one of its aliases). */
export interface CheckedRequest {
  request: GenerationRequest;
  engine: Engine;
}

export function checkGenerationRequest(submission: RequestSubmission, engines: EngineCatalog): CheckedRequest {
  const errors: FieldErrors = structuredClone(submission.schemaErrors ?? {});
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

  let size: { width: number; height: number } | undefined;
  if (!malformed('resolution')) {
    size = parseResolution(body.resolution);
    if (body.resolution === '') fail('resolution', 'The resolution field is required.');
    else if (!size) fail('resolution', 'The resolution must look like WIDTHxHEIGHT, e.g. 1024x1024.');
    else if (engine && !engine.resolutions.includes(body.resolution)) fail('resolution', `The resolution must be one of: ${engine.resolutions.join(', ')}.`);
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
  return { request, engine };
}
