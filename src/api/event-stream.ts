/**
 * The event stream of a thread (text/event-stream): replay from Last-Event-ID, then live events, with a keep-alive
 * comment every `heartbeatMs`. The live subscription is opened before the replay is read, and events it delivers
 * during the replay are sent after it (those the replay already had are skipped), so nothing falls in the gap.
 * Open streams are counted per token (or browser session): one more than `maxPerToken` is a 429.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EntryEvent } from '../domain/entry-events.ts';
import { ThrottledError } from '../domain/errors.ts';
import type { EntryEvents } from '../services/events/entry-events.ts';
import type { AuthContext } from './auth.ts';
import { eventView } from './views.ts';

export interface EventStreamOptions {
  /** Keep-alive comment interval (default 15 s). */
  heartbeatMs?: number;
  /** Open streams per token or session (default 20). */
  maxPerToken?: number;
}

export const EVENT_HEARTBEAT_MS = 15_000;
export const MAX_STREAMS_PER_TOKEN = 20;

export class EventStreams {
  readonly #open = new Map<string, number>();
  readonly #closers = new Set<() => void>();
  readonly #heartbeatMs: number;
  readonly #max: number;

  constructor(
    private readonly events: EntryEvents,
    options: EventStreamOptions = {},
  ) {
    this.#heartbeatMs = options.heartbeatMs ?? EVENT_HEARTBEAT_MS;
    this.#max = options.maxPerToken ?? MAX_STREAMS_PER_TOKEN;
  }

  /** Takes over the reply and streams the thread's events until the client goes away or close() runs. */
  async stream(request: FastifyRequest, reply: FastifyReply, auth: AuthContext, threadId: string, lastEventId: number | undefined): Promise<void> {
    const key = auth.tokenId ? `token:${auth.tokenId}` : auth.sessionId ? `session:${auth.sessionId}` : `user:${auth.userId}`;
    const open = this.#open.get(key) ?? 0;
    if (open >= this.#max) throw new ThrottledError(`Too many open event streams: at most ${this.#max} per token.`, 5);
    this.#open.set(key, open + 1);

    const raw = reply.raw;
    let closed = false;
    let replaying = true;
    const buffered: EntryEvent[] = [];
    const replayed = new Set<number>();
    const write = (event: EntryEvent) => {
      if (closed || event.userId !== auth.userId) return;
      const view = eventView(event);
      raw.write(`id: ${view.id}\nevent: ${view.event}\ndata: ${JSON.stringify(view.data)}\n\n`);
    };
    const unsubscribe = this.events.subscribe(threadId, (event) => {
      if (replaying) buffered.push(event);
      else write(event);
    });
    const heartbeat = setInterval(() => {
      if (!closed) raw.write(': keep-alive\n\n');
    }, this.#heartbeatMs);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      this.#closers.delete(close);
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
      if (!raw.writableEnded) raw.end();
    };
    this.#closers.add(close);
    raw.on('close', close);

    reply.hijack();
    // The headers the hooks set (security headers, rate-limit fields) go out with the stream's own.
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) raw.setHeader(name, value);
    raw.setHeader('content-type', 'text/event-stream; charset=utf-8');
    raw.setHeader('cache-control', 'no-store');
    raw.setHeader('x-accel-buffering', 'no'); // proxies (nginx) must not buffer the stream
    raw.writeHead(200);
    raw.write(`retry: 2000\n\n`);
    try {
      await this.events.ready();
      if (lastEventId !== undefined) {
        for (const event of await this.events.replay(auth.userId, threadId, lastEventId)) {
          replayed.add(event.seq);
          write(event);
        }
      }
    } catch (err) {
      request.log.warn({ err }, 'replaying entry events failed');
    }
    replaying = false;
    for (const event of buffered) if (!replayed.has(event.seq) && (lastEventId === undefined || event.seq > lastEventId)) write(event);
  }

  /** Ends every open stream (the server is closing). */
  closeAll(): void {
    for (const close of [...this.#closers]) close();
  }

  /** Open streams of this process (diagnostics and tests). */
  get size(): number {
    return this.#closers.size;
  }
}
