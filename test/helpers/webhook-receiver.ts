/**
 * A local webhook receiver on 127.0.0.1 (tests allow that host with SDAPI_WEBHOOK_ALLOW_HOSTS): it records every
 * POST (headers, raw body) and answers what the test says: a status code, or 'hold' (no answer until it closes).
 * `seen` resolves when the receiver has received a given number of requests (no sleeps).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed payload, as the test asserts on it. */
  json: any;
}

export type Answer = number | 'hold';

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Decides the answer to the n-th request (0-based); default 200. */
  answer: (n: number, webhook: ReceivedWebhook) => Answer;
  /** Resolves once `count` requests have arrived. */
  seen(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(path = '/hook'): Promise<WebhookReceiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const held: ServerResponse[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    answer: () => 200,
    seen: (count) => (receiver.received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    close: () =>
      new Promise((resolve) => {
        for (const res of held) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      const webhook = { headers: req.headers, body, json };
      const n = receiver.received.length;
      receiver.received.push(webhook);
      const answer = receiver.answer(n, webhook);
      if (answer === 'hold') held.push(res);
      else res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
      for (const w of waiters.filter((w) => receiver.received.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return receiver;
}
