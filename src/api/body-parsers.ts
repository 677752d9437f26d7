/**
 * The three request encodings, decoded to the same object so one schema validates them all:
 * JSON, application/x-www-form-urlencoded with bracket keys (`prompts[0][text]`, through qs) and
 * multipart/form-data (what PHP cURL sends for an array; its fields go through the same qs decoding).
 *
 * Every decoder has limits, and going over one is a clear 4xx rather than silently dropped data: qs throws
 * past `parameterLimit`, `arrayLimit` and `depth` (→ 422), bytes that are not UTF-8 are refused (→ 400)
 * instead of being replaced by U+FFFD, and a charset we cannot decode is a 415.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import qs from 'qs';
import { AppError } from '../domain/errors.ts';
import { INPUT_IMAGE_BYTES_MAX } from '../domain/generation-request.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Multipart file parts the route takes (as `data:` URLs in the decoded body); any other file part is a 422. */
    fileFields?: readonly string[];
  }
}

/** At most this many file parts in one multipart body (init_image and mask_image). */
const FILES_MAX = 2;

/** Form bodies: enough for every field of every route (10 prompts × 2 fields + 10 scalars) with room to spare. */
export const FORM_LIMITS = { depth: 4, arrayLimit: 50, parameterLimit: 500, fieldNameLength: 200 } as const;

const QS_OPTIONS = {
  depth: FORM_LIMITS.depth,
  arrayLimit: FORM_LIMITS.arrayLimit,
  parameterLimit: FORM_LIMITS.parameterLimit,
  strictDepth: true,
  throwOnLimitExceeded: true,
  allowPrototypes: false,
  allowDots: false,
} as const;

export function parseForm(text: string, charset: 'utf-8' | 'iso-8859-1' = 'utf-8'): Record<string, unknown> {
  try {
    return qs.parse(text, { ...QS_OPTIONS, charset }) as Record<string, unknown>;
  } catch (err) {
    // qs's RangeErrors: "Parameter limit exceeded…", "Array limit exceeded…", "Input depth exceeded…".
    const detail = err instanceof RangeError ? err.message.replace(/\s*and strictDepth is true\s*/, ' ').trim() : 'The form body could not be decoded.';
    throw AppError.validation({ body: [`The form body is too complex: ${detail}`] });
  }
}

/** The charset parameter of a Content-Type, lower-cased; undefined when there is none. */
function charsetOf(contentType: string | undefined): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return m?.[1].toLowerCase();
}

const UTF8 = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);
const LATIN1 = new Set(['iso-8859-1', 'latin1', 'l1', 'iso_8859-1']);

function unsupportedCharset(charset: string): AppError {
  return new AppError('unsupported_media_type', `Unsupported charset "${charset.slice(0, 40)}": send UTF-8.`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(body: Buffer): string {
  try {
    return utf8.decode(body);
  } catch {
    throw new AppError('bad_request', 'The request body is not valid UTF-8.');
  }
}

/** `largestLimit`: the largest body limit of any route (text fields of image routes may carry data: URLs). */
export async function registerBodyParsers(app: FastifyInstance, bodyLimit: number, largestLimit = bodyLimit): Promise<void> {
  // JSON: Fastify's parser (prototype-poisoning checks included), but on strictly decoded UTF-8.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && !UTF8.has(charset)) return done(unsupportedCharset(charset), undefined);
    let text: string;
    try {
      text = decodeUtf8(body as Buffer);
    } catch (err) {
      return done(err as Error, undefined);
    }
    json(request, text, done);
  });

  // Forms: percent-encoded ASCII; the escapes are UTF-8 unless the client says ISO-8859-1.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
    const charset = charsetOf(request.headers['content-type']);
    if (charset !== undefined && !UTF8.has(charset) && !LATIN1.has(charset)) return done(unsupportedCharset(charset), undefined);
    try {
      const text = decodeUtf8(body as Buffer);
      done(null, parseForm(text, charset !== undefined && LATIN1.has(charset) ? 'iso-8859-1' : 'utf-8'));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  await app.register(multipart, {
    limits: {
      fieldSize: Math.max(bodyLimit, largestLimit),
      fields: FORM_LIMITS.parameterLimit,
      files: FILES_MAX,
      fileSize: INPUT_IMAGE_BYTES_MAX,
      parts: FORM_LIMITS.parameterLimit,
      fieldNameSize: FORM_LIMITS.fieldNameLength,
    },
  });
}

/** Turns a multipart body into the same object a form body gives (the API scope's preValidation hook calls it). */
export async function decodeMultipart(request: FastifyRequest): Promise<void> {
  if (!request.isMultipart()) return;
  const params = new URLSearchParams();
  let total = 0;
  const limit = request.routeOptions.bodyLimit ?? 1024 * 1024;
  const fileFields = request.routeOptions.config.fileFields ?? [];
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const name = part.fieldname.slice(0, FORM_LIMITS.fieldNameLength);
        if (!fileFields.includes(part.fieldname)) {
          part.file.resume();
          throw AppError.validation({ [name]: ['File uploads are not accepted here.'] });
        }
        // An image file goes on as a data: URL, like one sent in JSON: one decoder checks them all.
        const bytes = await part.toBuffer();
        if (part.file.truncated) throw AppError.validation({ [name]: [`The ${name} may not be larger than ${INPUT_IMAGE_BYTES_MAX / 1024 / 1024} MB.`] });
        const type = /^[\w.+-]+\/[\w.+-]+$/.test(part.mimetype) ? part.mimetype : 'application/octet-stream';
        const value = `data:${type};base64,${bytes.toString('base64')}`;
        total += part.fieldname.length + value.length;
        if (total > limit) throw new AppError('payload_too_large', 'The request body is too large.');
        params.append(part.fieldname, value);
        continue;
      }
      if (part.valueTruncated) throw new AppError('payload_too_large', 'The request body is too large.');
      // busboy does not apply fieldNameSize to multipart bodies: check the name here.
      if (part.fieldnameTruncated || part.fieldname.length > FORM_LIMITS.fieldNameLength) throw AppError.validation({ body: [`A field name may not be longer than ${FORM_LIMITS.fieldNameLength} characters.`] });
      const value = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
      total += part.fieldname.length + value.length;
      if (total > limit) throw new AppError('payload_too_large', 'The request body is too large.');
      params.append(part.fieldname, value);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code === 'FST_FILES_LIMIT') throw AppError.validation({ file: [fileFields.length > 0 ? `At most ${FILES_MAX} files (${fileFields.join(', ')}) may be sent.` : 'File uploads are not accepted here.'] });
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw AppError.validation({ file: [`A file may not be larger than ${INPUT_IMAGE_BYTES_MAX / 1024 / 1024} MB.`] });
    if (code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
      throw AppError.validation({ body: [`The multipart body may not have more than ${FORM_LIMITS.parameterLimit} fields.`] });
    }
    if (code.endsWith('_LIMIT') || code === 'FST_REQ_FILE_TOO_LARGE') throw new AppError('payload_too_large', 'The request body is too large.');
    throw new AppError('validation_failed', 'The multipart body could not be read.', { body: ['The multipart body is malformed.'] });
  }
  request.body = parseForm(params.toString());
}
