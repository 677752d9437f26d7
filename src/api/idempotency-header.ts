/** The Idempotency-Key request header and the Idempotent-Replayed answer header of the POSTs that create something. */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { isAppError, type FieldErrors } from '../domain/errors.ts';
import { checkIdempotencyKey, IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_MAX } from '../services/idempotency/idempotency.ts';

export const IdempotencyHeaders = Type.Object({
  [IDEMPOTENCY_HEADER]: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: IDEMPOTENCY_KEY_MAX,
      description:
        'Optional, 1–255 printable ASCII characters, scoped to the account and kept 24 h. The same key with the same parsed request (in any body encoding) returns the first answer again, with Idempotent-Replayed: true, and charges nothing more; with a different request it is a 422; while the first is still being processed, a 409. A request refused for bad input (422) does not use up the key.',
      examples: ['5f1c0e7e-9d0b-4a53-a1f2-6c3f1b2a7d10'],
    }),
  ),
});

export const REPLAYED_HEADER = {
  'idempotent-replayed': { type: 'string', enum: ['true'], description: 'Present when this is the stored answer of an earlier request with the same Idempotency-Key.' },
};

export const idempotencyErrors = {
  409: { description: 'A request with the same Idempotency-Key is still being processed', type: 'object', properties: { message: { type: 'string' }, code: { type: 'string' } } },
};

/** The request's Idempotency-Key; with `errors`, a bad key is added to them (one 422 for everything) instead of thrown. */
export function idempotencyKeyOf(request: FastifyRequest, errors?: FieldErrors): string | undefined {
  try {
    return checkIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]);
  } catch (err) {
    if (!errors || !isAppError(err) || !err.fields) throw err;
    for (const [field, messages] of Object.entries(err.fields)) if (!errors[field]) errors[field] = messages;
    return undefined;
  }
}
