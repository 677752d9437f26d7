/** Thread entries as the service and the API see them: a request (its GenerationRequest) or its response (the images). */
import { Type, type Static } from '@sinclair/typebox';
import type { GenerationRequest } from './generation-request.ts';

export const ImageItemSchema = Type.Object({
  url: Type.String(),
  thumbnail_url: Type.String(),
  dimensions: Type.String({ examples: ['1024x1024'] }),
  filesize: Type.Integer(),
  seed: Type.Integer(),
  finish_reason: Type.String({ examples: ['SUCCESS'] }),
});
export type ImageItem = Static<typeof ImageItemSchema>;

export const ProgressSchema = Type.Object({ step: Type.Integer(), steps: Type.Integer(), image: Type.Integer(), images: Type.Integer() });
export type Progress = Static<typeof ProgressSchema>;

export const ENTRY_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type EntryStatus = (typeof ENTRY_STATUSES)[number];

interface EntryBase {
  id: string;
  threadId: string;
  error: string | null;
  waitingResponse: boolean;
  credits: number;
  /** Requests: queued → running → done | failed | cancelled. Responses: done | failed. */
  status: EntryStatus;
  progress: Progress | null;
  /** A queued request: how many jobs start on its engine before it (services/jobs/queue-position.ts). */
  queuePosition?: number;
  /** A running request: seconds until it is done, from the engine's recent step times (null before any step). */
  etaSeconds?: number | null;
  createdAt: string;
  updatedAt: string;
}

export type Entry =
  | (EntryBase & { type: 'request'; requestId: null; content: GenerationRequest })
  | (EntryBase & { type: 'response'; requestId: string; content: ImageItem[] });
