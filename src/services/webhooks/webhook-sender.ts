/**
 * One HTTP POST of a webhook: a fresh connection (no pooled socket skips the address check), the guarded lookup,
 * no redirects followed (a 3xx is a failed attempt: a redirect could point inside the network), a limit on the
 * whole attempt's time, and at most `maxResponseBytes` of the answer read (the rest is dropped with the socket).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, literalAddressRefusal, type WebhookTargetPolicy } from './address-guard.ts';

export interface WebhookPost {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface WebhookResponse {
  /** The receiver's status; undefined when no answer came (refused address, timeout, connection error). */
  statusCode?: number;
  /** Why the attempt failed, for the delivery record (no 2xx). */
  error?: string;
}

export type WebhookSend = (post: WebhookPost) => Promise<WebhookResponse>;

export interface WebhookSenderOptions {
  policy: WebhookTargetPolicy;
  /** The whole attempt: connect, send, answer (default 10 s). */
  timeoutMs?: number;
  /** Bytes of the answer read before the connection is dropped (default 64 KiB). */
  maxResponseBytes?: number;
}

const USER_AGENT = 'sdapi-webhooks/1';

export function httpWebhookSender(options: WebhookSenderOptions): WebhookSend {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
  const lookup = guardedLookup(options.policy);
  return (post) =>
    new Promise<WebhookResponse>((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (result: WebhookResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      let url: URL;
      try {
        url = new URL(post.url);
      } catch {
        return finish({ error: 'the webhook URL is not valid' });
      }
      const refusal = literalAddressRefusal(url, options.policy);
      if (refusal) return finish({ error: refusal });
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, {
        method: 'POST',
        agent: false,
        lookup,
        headers: { ...post.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(post.body)), 'user-agent': USER_AGENT },
      });
      timer = setTimeout(() => {
        req.destroy();
        finish({ error: `no answer within ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}` });
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => finish({ error: describe(err) }));
      req.on('response', (res: IncomingMessage) => {
        const statusCode = res.statusCode ?? 0;
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > maxResponseBytes) {
            res.destroy();
            finish(outcome(statusCode));
          }
        });
        res.on('end', () => finish(outcome(statusCode)));
        res.on('error', () => finish(outcome(statusCode)));
        res.on('close', () => finish(outcome(statusCode)));
      });
      req.end(post.body);
    });
}

function outcome(statusCode: number): WebhookResponse {
  if (statusCode >= 200 && statusCode < 300) return { statusCode };
  if (statusCode >= 300 && statusCode < 400) return { statusCode, error: 'redirects are not followed' };
  return { statusCode, error: `the receiver answered ${statusCode}` };
}

/** A connection error as the delivery record shows it: the kind of failure, never a stack. */
function describe(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRREFUSED':
      return 'the webhook host resolves to an address that is not allowed';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the webhook host could not be resolved';
    case 'ECONNREFUSED':
      return 'the connection was refused';
    case 'ECONNRESET':
      return 'the connection was reset';
    case 'ETIMEDOUT':
    case 'ETIMEOUT':
      return 'the connection timed out';
    default:
      return err.code?.startsWith('ERR_TLS') || err.code?.includes('CERT') ? 'the TLS handshake failed' : `the request failed (${err.code ?? 'error'})`;
  }
}
