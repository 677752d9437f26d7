/**
 * Webhook signatures as Standard Webhooks specifies them (standard-webhooks/standard-webhooks, spec/standard-webhooks.md):
 * headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (space-separated `v1,<base64>`, several
 * during a secret rotation); the signature is the HMAC-SHA256, keyed with the base64 secret after `whsec_`, of
 * `<id>.<timestamp>.<raw body>`. WebCrypto only, so it runs in Node ≥ 20, browsers, Deno and workers alike.
 */

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

/** Fetch's Headers, or Node's IncomingHttpHeaders (lower-case names). */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** How far the timestamp may be from now, in seconds (default 300: replays older than that are refused). */
  toleranceSeconds?: number;
  /** The current time (tests). */
  now?: Date;
}

/**
 * Checks a delivery and returns its parsed JSON body; throws WebhookVerificationError when a header is missing, the
 * timestamp is outside the tolerance, or no signature matches. Pass the raw body exactly as received.
 */
export async function verifyWebhook(secret: string, payload: string | Uint8Array, headers: WebhookHeaders, options: VerifyWebhookOptions = {}): Promise<unknown> {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('Missing webhook-id, webhook-timestamp or webhook-signature header.');
  if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('Invalid webhook-timestamp.');
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - Number(timestamp)) > tolerance) throw new WebhookVerificationError('The webhook-timestamp is outside the tolerance (a replay, or a clock far off).');

  const body = typeof payload === 'string' ? payload : new TextDecoder().decode(payload);
  const key = await crypto.subtle.importKey('raw', toArrayBuffer(base64ToBytes(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret)), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  const expected = new Uint8Array(await crypto.subtle.sign('HMAC', key, toArrayBuffer(new TextEncoder().encode(`${id}.${timestamp}.${body}`))));
  for (const candidate of signatures.split(' ')) {
    const [version, signature] = candidate.split(',', 2);
    if (version !== 'v1' || !signature) continue;
    let given: Uint8Array;
    try {
      given = base64ToBytes(signature);
    } catch {
      continue;
    }
    if (equalConstantTime(given, expected)) return JSON.parse(body) as unknown;
  }
  throw new WebhookVerificationError('No matching signature.');
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}
