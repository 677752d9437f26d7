/** A small text/event-stream client for tests: fetch + a line parser; waits for events by predicate (no sleeps). */
export interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

export interface SseClient {
  status: number;
  headers: Headers;
  /** Every event received so far, in order. */
  events: SseEvent[];
  /** Comment lines received so far (keep-alives). */
  comments: string[];
  /** Resolves with the first event (received before or after the call) that matches. */
  next(match: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves once a comment line has arrived. */
  nextComment(timeoutMs?: number): Promise<string>;
  close(): void;
}

export async function openEventStream(url: string, headers: Record<string, string>): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      let current: { id?: string; event?: string; data: string[] } = { data: [] };
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (line === '') {
              if (current.event || current.data.length) {
                events.push({ id: current.id, event: current.event ?? 'message', data: current.data.length ? JSON.parse(current.data.join('\n')) : null });
                notify();
              }
              current = { data: [] };
            } else if (line.startsWith(':')) {
              comments.push(line);
              notify();
            } else {
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') current.id = value;
              else if (field === 'event') current.event = value;
              else if (field === 'data') current.data.push(value);
            }
          }
        }
      } catch {
        // closed
      }
    })();
  }
  const until = <T>(probe: () => T | undefined, what: string, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${what} did not arrive; got ${JSON.stringify(events.map((e) => e.event))}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    status: res.status,
    headers: res.headers,
    events,
    comments,
    next: (match, timeoutMs = 60_000) => until(() => events.find(match), 'the event', timeoutMs),
    nextComment: (timeoutMs = 10_000) => until(() => comments[0], 'a comment', timeoutMs),
    close: () => abort.abort(),
  };
}
