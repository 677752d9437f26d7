/** High-entropy bearer secrets: shown once, stored only as SHA-256 (a slow hash adds nothing at 256 bits of entropy). */
import { createHash, randomBytes } from 'node:crypto';

export const TOKEN_PREFIX = 'sdapi_';

export function newBearerToken(): { token: string; prefix: string; hash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, prefix: token.slice(0, TOKEN_PREFIX.length + 6), hash: hashSecret(token) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
