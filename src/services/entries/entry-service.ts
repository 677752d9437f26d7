/**
 * Thread entries. A request entry is validated against its engine, priced, paid for (reservation)
 * and queued in one transaction; the worker later writes exactly one response entry for it.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { EntriesTable, EntryStatus, EntryType } from '../../store/tables/generation.ts';
import type { JobQueue } from '../../queue/job-queue.ts';
import { lockThread } from '../../store/locks.ts';
import { prepareQuery } from '../../store/prepared-query.ts';
import type { CreditService } from '../credits/credit-service.ts';
import { requestCost } from '../credits/pricing.ts';
import { AppError, type FieldErrors } from '../errors.ts';
import { SAMPLER_ALIASES, STYLE_PRESETS, type EngineCatalog } from '../generation/catalog.ts';
import { GENERATE_JOB, type GenerationPayload } from '../generation/payload.ts';
import { parseResolution } from '../generation/sizing.ts';
import { isUuid, type ThreadService } from '../threads/thread-service.ts';

export const PROMPTS_MAX = 10;
export const PROMPT_TEXT_MAX = 2000;
export const IMAGES_MAX = 10;
export const SEED_MAX = 4294967295;
/** Bounds every engine's step range must lie within (the engine's own range is checked too). */
export const STEPS_MAX = 1000;
/** Only the sign of a weight matters today; the bound keeps the stored value finite and sane. */
export const PROMPT_WEIGHT_MAX = 100;

/** The request body after decoding (any of the three encodings); fields may be missing or of the wrong type. */
export interface EntryInput {
  type?: unknown;
  engine?: unknown;
  resolution?: unknown;
  prompts?: unknown;
  images?: unknown;
  steps?: unknown;
  style?: unknown;
  seed?: unknown;
  cfg_scale?: unknown;
  sampler?: unknown;
}

export interface RequestContent {
  prompts: { text: string; weight: number }[];
  engine: string;
  style: string | null;
  images: number;
  steps: number;
  resolution: string;
  seed?: number;
  cfg_scale?: number;
  sampler?: string;
}

export interface ImageItem {
  url: string;
  thumbnail_url: string;
  dimensions: string;
  filesize: number;
  seed: number;
  finish_reason: string;
}

export interface Progress {
  step: number;
  steps: number;
  image: number;
  images: number;
}

export interface Entry {
  id: string;
  threadId: string;
  type: EntryType;
  requestId: string | null;
  content: RequestContent | ImageItem[];
  error: string | null;
  waitingResponse: boolean;
  credits: number;
  status: EntryStatus;
  progress: Progress | null;
  createdAt: string;
  updatedAt: string;
}

export class EntryService {
  readonly #listQuery: ReturnType<typeof threadEntriesQuery>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly deps: { threads: ThreadService; catalog: EngineCatalog; credits: CreditService; queue: JobQueue },
  ) {
    this.#listQuery = threadEntriesQuery(db);
  }

  /** Checks every rule and returns the normalized request; throws one 422 naming every bad field. */
  async validate(input: EntryInput): Promise<{ content: RequestContent; payload: Omit<GenerationPayload, 'entryId' | 'threadId' | 'userId' | 'aiVersionCode'> }> {
    const errors: FieldErrors = {};
    const fail = (field: string, message: string) => (errors[field] ??= []).push(message);

    if (input.type !== undefined && input.type !== 'request') fail('type', 'The type must be "request".');

    const engine = typeof input.engine === 'string' ? this.deps.catalog.find(input.engine) : undefined;
    if (input.engine === undefined || input.engine === '') fail('engine', 'The engine field is required.');
    else if (!engine) fail('engine', `The selected engine is invalid. Valid: ${this.deps.catalog.ids().join(', ')}.`);

    let size: { width: number; height: number } | undefined;
    if (input.resolution === undefined || input.resolution === '') fail('resolution', 'The resolution field is required.');
    else if (typeof input.resolution !== 'string' || !(size = parseResolution(input.resolution))) fail('resolution', 'The resolution must look like WIDTHxHEIGHT, e.g. 1024x1024.');
    else if (engine && !engine.resolutions.includes(input.resolution)) fail('resolution', `The resolution must be one of: ${engine.resolutions.join(', ')}.`);

    const prompts: { text: string; weight: number }[] = [];
    if (input.prompts === undefined) fail('prompts', 'The prompts field is required.');
    else if (!Array.isArray(input.prompts)) fail('prompts', 'The prompts must be a list.');
    else if (input.prompts.length < 1 || input.prompts.length > PROMPTS_MAX) fail('prompts', `The prompts must have between 1 and ${PROMPTS_MAX} items.`);
    else {
      input.prompts.forEach((p: unknown, i: number) => {
        const item = (p ?? {}) as { text?: unknown; weight?: unknown };
        if (typeof p !== 'object' || p === null) return fail(`prompts.${i}`, 'Each prompt must be an object with text and weight.');
        if (typeof item.text !== 'string' || item.text.trim() === '') fail(`prompts.${i}.text`, 'The prompt text is required.');
        else if (item.text.length > PROMPT_TEXT_MAX) fail(`prompts.${i}.text`, `The prompt text may not be greater than ${PROMPT_TEXT_MAX} characters.`);
        const weight = item.weight === undefined ? 1 : item.weight;
        if (typeof weight !== 'number' || !Number.isFinite(weight)) fail(`prompts.${i}.weight`, 'The prompt weight must be a number.');
        else if (Math.abs(weight) > PROMPT_WEIGHT_MAX) fail(`prompts.${i}.weight`, `The prompt weight must be between -${PROMPT_WEIGHT_MAX} and ${PROMPT_WEIGHT_MAX}.`);
        if (typeof item.text === 'string' && typeof weight === 'number') prompts.push({ text: item.text, weight });
      });
      if (prompts.length === input.prompts.length && !prompts.some((p) => p.weight > 0)) fail('prompts', 'At least one prompt must have a positive weight.');
    }

    const images = input.images === undefined ? 1 : input.images;
    if (!isInt(images) || images < 1 || images > IMAGES_MAX) fail('images', `The images must be an integer between 1 and ${IMAGES_MAX}.`);

    const steps = input.steps === undefined ? (engine?.stepsDefault ?? 50) : input.steps;
    if (!isInt(steps)) fail('steps', 'The steps must be an integer.');
    else if (engine && (steps < engine.stepsMin || steps > engine.stepsMax)) fail('steps', `The steps must be between ${engine.stepsMin} and ${engine.stepsMax}.`);

    const style = input.style === undefined || input.style === '' || input.style === null ? null : input.style;
    if (style !== null && !(STYLE_PRESETS as readonly unknown[]).includes(style)) fail('style', `The style must be one of: ${STYLE_PRESETS.join(', ')}.`);

    if (input.seed !== undefined && (!isInt(input.seed) || input.seed < 0 || input.seed > SEED_MAX)) fail('seed', `The seed must be an integer between 0 and ${SEED_MAX}.`);

    const cfg = input.cfg_scale === undefined ? (engine?.cfgDefault ?? 7) : input.cfg_scale;
    if (typeof cfg !== 'number' || !Number.isFinite(cfg)) fail('cfg_scale', 'The cfg_scale must be a number.');
    else if (engine && (cfg < engine.cfgMin || cfg > engine.cfgMax)) fail('cfg_scale', `The cfg_scale must be between ${engine.cfgMin} and ${engine.cfgMax}.`);

    let sampler: string | null = null;
    if (input.sampler !== undefined && input.sampler !== '') {
      const name = typeof input.sampler === 'string' ? (SAMPLER_ALIASES[input.sampler] ?? input.sampler) : '';
      const allowed = engine ? (await this.deps.catalog.view(engine)).samplers : [];
      if (!name || (engine && !allowed.includes(name))) fail('sampler', `The sampler must be one of: ${allowed.join(', ')}.`);
      else sampler = name;
    }

    if (Object.keys(errors).length > 0 || !engine || !size) throw AppError.validation(errors);

    const seed = isInt(input.seed) && input.seed > 0 ? input.seed : randomInt(1, 2 ** 32 - 1);
    const content: RequestContent = {
      prompts,
      engine: engine.id,
      style: style as string | null,
      images: images as number,
      steps: steps as number,
      resolution: `${size.width}x${size.height}`,
    };
    if (input.seed !== undefined) content.seed = input.seed as number;
    if (input.cfg_scale !== undefined) content.cfg_scale = cfg as number;
    if (sampler) content.sampler = sampler;
    const cost = requestCost({ images: content.images, steps: content.steps, width: size.width, height: size.height });
    return {
      content,
      payload: {
        engine: engine.id,
        modelDir: engine.modelDir,
        prompts,
        width: size.width,
        height: size.height,
        steps: content.steps,
        cfgScale: cfg as number,
        sampler,
        seed,
        images: content.images,
        style: content.style,
        cost,
      },
    };
  }

  /** Validates, reserves the credits and queues the generation; returns the request entry. */
  async createRequest(userId: string, threadId: string, input: EntryInput): Promise<Entry> {
    const thread = await this.deps.threads.get(userId, threadId);
    const { content, payload } = await this.validate(input);
    const now = new Date().toISOString();
    const id = randomUUID();
    const row = await this.db.transaction().execute(async (trx) => {
      // The thread may have been deleted since it was read above (DELETE /threads/{guid} racing this request):
      // re-read it under its lock, so the request is a 404 rather than an entry (and a reservation) in a deleted thread.
      await lockThread(trx, thread.id);
      const live = await trx.selectFrom('threads').select('id').where('id', '=', thread.id).where('user_id', '=', userId).executeTakeFirst();
      if (!live) throw new AppError('not_found', 'Thread not found.');
      // The entry first: insertEntry locks the thread row on PostgreSQL, and every writer locks the thread before the user.
      const inserted = await insertEntry(trx, {
        id,
        thread_id: thread.id,
        user_id: userId,
        type: 'request',
        request_id: null,
        content: JSON.stringify(content),
        error: null,
        waiting_response: 1,
        credits: 0,
        status: 'queued',
        progress: null,
        files: '[]',
        created_at: now,
        updated_at: now,
      });
      await this.deps.credits.reserve(trx, userId, payload.cost, id);
      const full: GenerationPayload = { ...payload, entryId: id, threadId: thread.id, userId, aiVersionCode: thread.aiVersionCode };
      await this.deps.queue.enqueue(trx, { kind: GENERATE_JOB, payload: full, entryId: id, userId });
      await trx.updateTable('threads').set({ updated_at: now }).where('id', '=', thread.id).execute();
      return inserted;
    });
    this.deps.queue.wake();
    return toEntry(row);
  }

  /** Request and response entries of a thread, in the order they were written. */
  async list(userId: string, threadId: string): Promise<Entry[]> {
    if (!isUuid(threadId)) throw new AppError('not_found', 'Thread not found.');
    const rows = await this.#listQuery(threadId, userId);
    if (rows.length === 0) throw new AppError('not_found', 'Thread not found.');
    return rows.filter((r) => r.id !== null).map((r) => toEntry(r as EntriesTable));
  }

}

/** One prepared query for the hot polling path: the thread row proves ownership, the joined rows are its entries. */
function threadEntriesQuery(db: Kysely<Database>) {
  return prepareQuery(db, 2, (threadId: string, userId: string) =>
    db
      .selectFrom('threads')
      .leftJoin('entries', 'entries.thread_id', 'threads.id')
      .selectAll('entries')
      .select('threads.id as owned_thread_id')
      .where('threads.id', '=', threadId)
      .where('threads.user_id', '=', userId)
      .orderBy('entries.seq'),
  );
}

export async function insertEntry(trx: Kysely<Database>, row: Omit<EntriesTable, 'seq'>): Promise<EntriesTable> {
  await lockThread(trx, row.thread_id);
  const last = await trx.selectFrom('entries').select((eb) => eb.fn.max('seq').as('seq')).where('thread_id', '=', row.thread_id).executeTakeFirst();
  const full: EntriesTable = { ...row, seq: Number(last?.seq ?? 0) + 1 };
  await trx.insertInto('entries').values(full).execute();
  return full;
}

export function toEntry(row: EntriesTable): Entry {
  return {
    id: row.id,
    threadId: row.thread_id,
    type: row.type,
    requestId: row.request_id,
    content: JSON.parse(row.content) as RequestContent | ImageItem[],
    error: row.error,
    waitingResponse: Number(row.waiting_response) === 1,
    credits: Number(row.credits),
    status: row.status,
    progress: row.progress ? (JSON.parse(row.progress) as Progress) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}
