/** Stored entry rows → the domain's Entry. */
import type { Entry, ImageItem, Progress } from '../../domain/entry.ts';
import type { GenerationRequest } from '../../domain/generation-request.ts';
import type { EntryListRow } from '../../store/repositories/entries.repo.ts';

/** The stored progress column: `{step, steps, image, images, eta_seconds}` while running (written by progressReporter). */
function progressOf(row: EntryListRow): { progress: Progress | null; etaSeconds?: number | null } {
  if (!row.progress) return { progress: null };
  const { eta_seconds: eta, ...progress } = JSON.parse(row.progress) as Progress & { eta_seconds?: number | null };
  return row.status === 'running' ? { progress, etaSeconds: eta ?? null } : { progress };
}

/** A stored row as the domain sees it; `content` is JSON the service itself wrote (a request, or the response's images). */
export function toEntry(row: EntryListRow): Entry {
  const common = {
    id: row.id,
    threadId: row.thread_id,
    error: row.error,
    waitingResponse: Number(row.waiting_response) === 1,
    credits: Number(row.credits),
    status: row.status,
    ...progressOf(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.type === 'request') return { ...common, type: 'request', requestId: null, content: JSON.parse(row.content) as GenerationRequest };
  return { ...common, type: 'response', requestId: row.request_id ?? '', content: JSON.parse(row.content) as ImageItem[] };
}
