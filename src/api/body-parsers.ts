/**
 * The three request encodings, decoded to the same object so one schema validates them all:
 * JSON (Fastify's own parser), application/x-www-form-urlencoded with bracket keys
 * (`prompts[0][text]`, through qs) and multipart/form-data (what PHP cURL sends for an array; its
 * fields go through the same qs decoding).
 */
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import qs from 'qs';
import { AppError } from '../services/errors.ts';

const QS_OPTIONS = { depth: 4, arrayLimit: 50, parameterLimit: 500, allowPrototypes: false, allowDots: false } as const;

export function parseForm(text: string): Record<string, unknown> {
  return qs.parse(text, QS_OPTIONS) as Record<string, unknown>;
}

export async function registerBodyParsers(app: FastifyInstance, bodyLimit: number): Promise<void> {
  await app.register(formbody, { parser: parseForm, bodyLimit });
  await app.register(multipart, { limits: { fieldSize: bodyLimit, fields: 500, files: 0, parts: 500, fieldNameSize: 200 } });
}

/** preValidation: turns a multipart body into the same object a form body gives. */
export async function decodeMultipart(request: FastifyRequest): Promise<void> {
  if (!request.isMultipart()) return;
  const params = new URLSearchParams();
  let total = 0;
  const limit = request.routeOptions.bodyLimit ?? 1024 * 1024;
  try {
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        part.file.resume();
        throw AppError.validation({ [part.fieldname]: ['File uploads are not accepted here.'] });
      }
      const value = typeof part.value === 'string' ? part.value : String(part.value);
      total += part.fieldname.length + value.length;
      if (total > limit) throw new AppError('payload_too_large', 'The request body is too large.');
      params.append(part.fieldname, value);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code ?? '';
    if (code === 'FST_FILES_LIMIT') throw AppError.validation({ file: ['File uploads are not accepted here.'] });
    if (code.endsWith('_LIMIT') || code === 'FST_REQ_FILE_TOO_LARGE') throw new AppError('payload_too_large', 'The request body is too large.');
    throw new AppError('validation_failed', 'The multipart body could not be read.', { body: ['The multipart body is malformed.'] });
  }
  request.body = parseForm(params.toString());
}
