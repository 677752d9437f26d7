/**
 * The job kinds and their payloads. Each kind has a current payload version and schema; a payload is checked
 * against its schema when a worker claims the job. Changing a payload's shape means bumping `version`: workers
 * claim only the (kind, version) pairs they know, so during a rolling deploy an old worker leaves a newer job to a
 * newer worker, and `legacy` lets a newer worker upgrade payloads still queued in an older version.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { GenerationRequestSchema, SEED_MAX } from './generation-request.ts';

/** A payload version a kind no longer writes but still runs, upgraded to the current shape when claimed. */
export interface LegacyPayload<S extends TSchema> {
  version: number;
  schema: TSchema;
  upgrade(payload: unknown): Static<S>;
}

export interface JobDefinition<S extends TSchema = TSchema> {
  /** The version enqueue writes. */
  version: number;
  schema: S;
  /** Attempts before the job fails for good (a worker dying mid-job uses one). */
  maxAttempts: number;
  legacy?: readonly LegacyPayload<S>[];
}

export type JobDefinitions = Readonly<Record<string, JobDefinition>>;

/** `generate` version 1: before engines were routed (the request's engine id was always the canonical one). */
export const GenerateJobPayloadV1Schema = Type.Object({
  entryId: Type.String(),
  threadId: Type.String(),
  userId: Type.String(),
  aiVersionCode: Type.String(),
  request: GenerationRequestSchema,
  seed: Type.Integer({ minimum: 1, maximum: SEED_MAX }),
  cost: Type.Integer({ minimum: 0 }),
});

/** `generate` version 2: no image inputs. */
export const GenerateJobPayloadV2Schema = Type.Object({
  entryId: Type.String(),
  threadId: Type.String(),
  userId: Type.String(),
  aiVersionCode: Type.String(),
  request: GenerationRequestSchema,
  seed: Type.Integer({ minimum: 1, maximum: SEED_MAX }),
  cost: Type.Integer({ minimum: 0 }),
  engine: Type.String(),
});

/** `generate`: run one request entry's generation, write its response entry, charge or refund its credits. */
export const GenerateJobPayloadSchema = Type.Object({
  entryId: Type.String(),
  threadId: Type.String(),
  userId: Type.String(),
  aiVersionCode: Type.String(),
  request: GenerationRequestSchema,
  /** The seed resolved once when the request was accepted (the caller's, or a random one for absent/0); image i uses seed + i. */
  seed: Type.Integer({ minimum: 1, maximum: SEED_MAX }),
  /** Credits reserved for the request: charged on delivery, refunded on failure. */
  cost: Type.Integer({ minimum: 0 }),
  /** The canonical id of the engine that runs it (the request keeps the id the client sent, maybe an alias). */
  engine: Type.String(),
  /** Image-to-image and inpainting: the storage keys of the request's copies of its init image and mask image. */
  inputs: Type.Optional(Type.Object({ init: Type.String({ maxLength: 300 }), mask: Type.Optional(Type.String({ maxLength: 300 })) })),
});

export const JOB_DEFINITIONS = {
  generate: {
    // 3: image inputs; a version-2 worker would run such a job as text-to-image, so it must not claim it.
    version: 3,
    schema: GenerateJobPayloadSchema,
    maxAttempts: 3,
    legacy: [
      { version: 1, schema: GenerateJobPayloadV1Schema, upgrade: (payload: unknown) => upgradeGenerateV1(payload) },
      { version: 2, schema: GenerateJobPayloadV2Schema, upgrade: (payload: unknown) => payload as Static<typeof GenerateJobPayloadSchema> },
    ],
  },
} as const satisfies JobDefinitions;

/** Version 1 had no `engine`: its request named the canonical id. */
function upgradeGenerateV1(payload: unknown): Static<typeof GenerateJobPayloadSchema> {
  const v1 = payload as Static<typeof GenerateJobPayloadV1Schema>; // checked against GenerateJobPayloadV1Schema by the queue
  return { ...v1, engine: v1.request.engine };
}

export type JobKind = keyof typeof JOB_DEFINITIONS;
export type PayloadOf<D extends JobDefinition> = Static<D['schema']>;
export type JobPayload<K extends JobKind> = PayloadOf<(typeof JOB_DEFINITIONS)[K]>;
