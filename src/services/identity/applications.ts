/**
 * Applications group a user's bearer tokens. Every query is scoped by user id, so another
 * account's application looks exactly like a missing one (404).
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { DataStore } from '../../store/database.ts';
import type { ApplicationRow } from '../../store/repositories/applications.repo.ts';
import type { TokenRow } from '../../store/repositories/tokens.repo.ts';
import { hashSecret, newBearerToken } from './secrets.ts';

export interface Application {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface ApiTokenInfo {
  id: string;
  applicationId: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface TokenPrincipal {
  userId: string;
  email: string;
  tokenId: string;
  applicationId: string;
}

export const NAME_MAX = 100;
/** Per account (issue #17): past it, creating one more is a 422 naming the limit. */
export const APPLICATIONS_PER_USER_MAX = 20;
export const TOKENS_PER_APPLICATION_MAX = 50;

function checkName(name: string, field = 'name'): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > NAME_MAX) {
    throw AppError.validation({ [field]: [`The ${field} must be between 1 and ${NAME_MAX} characters.`] });
  }
  return trimmed;
}

export class ApplicationService {
  constructor(
    protected readonly store: DataStore,
    protected readonly clock: Clock = systemClock,
  ) {}

  async list(userId: string): Promise<Application[]> {
    return (await this.store.repos.applications.list(userId)).map(toApplication);
  }

  async create(userId: string, name: string): Promise<Application> {
    const clean = checkName(name);
    const now = this.clock().toISOString();
    const row: ApplicationRow = { id: randomUUID(), user_id: userId, name: clean, created_at: now, updated_at: now };
    // Count and insert under the user's row lock, so parallel creates cannot pass the limit together.
    await this.store.transaction(async (tx) => {
      await tx.users.lock(userId);
      if ((await tx.applications.count(userId)) >= APPLICATIONS_PER_USER_MAX) {
        throw AppError.validation({
          applications: [`An account can hold at most ${APPLICATIONS_PER_USER_MAX} applications: delete one before creating another.`],
        });
      }
      await tx.applications.insert(row);
    });
    return toApplication(row);
  }

  async findByName(userId: string, name: string): Promise<Application | undefined> {
    const row = await this.store.repos.applications.findByName(userId, name.trim());
    return row && toApplication(row);
  }

  async get(userId: string, id: string): Promise<Application> {
    const row = isUuid(id) ? await this.store.repos.applications.find(userId, id) : undefined;
    if (!row) throw new AppError('not_found', 'Application not found.');
    return toApplication(row);
  }

  async rename(userId: string, id: string, name: string): Promise<Application> {
    const clean = checkName(name);
    await this.get(userId, id);
    await this.store.repos.applications.rename(userId, id, { name: clean, updatedAt: this.clock().toISOString() });
    return this.get(userId, id);
  }

  /** Deleting an application deletes (and so revokes) its tokens, and its webhook secret, in the same transaction. */
  async delete(userId: string, id: string): Promise<void> {
    await this.get(userId, id);
    await this.store.transaction(async (tx) => {
      await tx.tokens.deleteForApplication(userId, id);
      // Its webhook secret too: deliveries still queued for it are given up (nothing can sign them).
      await tx.webhookSecrets.deleteForApplication(userId, id);
      await tx.applications.delete(userId, id);
    });
  }

  /** Creates a token; the plain token is returned here only and never stored. */
  async createToken(userId: string, applicationId: string, name = 'default'): Promise<ApiTokenInfo & { token: string }> {
    const clean = checkName(name);
    await this.get(userId, applicationId);
    if ((await this.store.repos.tokens.countActive(userId, applicationId)) >= TOKENS_PER_APPLICATION_MAX) {
      throw AppError.validation({ name: [`An application can have at most ${TOKENS_PER_APPLICATION_MAX} active tokens.`] });
    }
    const { token, prefix, hash } = newBearerToken();
    const row: TokenRow = {
      id: randomUUID(),
      application_id: applicationId,
      user_id: userId,
      name: clean,
      prefix,
      token_hash: hash,
      created_at: this.clock().toISOString(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.store.repos.tokens.insert(row);
    return { ...toToken(row), token };
  }

  async listTokens(userId: string, applicationId: string): Promise<ApiTokenInfo[]> {
    await this.get(userId, applicationId);
    return (await this.store.repos.tokens.list(userId, applicationId)).map(toToken);
  }

  async revokeToken(userId: string, applicationId: string, tokenId: string): Promise<void> {
    if (!isUuid(applicationId) || !isUuid(tokenId)) throw new AppError('not_found', 'Token not found.');
    const revoked = await this.store.repos.tokens.revoke(userId, applicationId, { tokenId, revokedAt: this.clock().toISOString() });
    if (revoked === 0) throw new AppError('not_found', 'Token not found.');
  }

  /** Resolves a bearer token to its owner; revoked or unknown tokens resolve to nothing. */
  async authenticate(token: string): Promise<TokenPrincipal | undefined> {
    if (token.length === 0 || token.length > 200) return undefined;
    const owner = await this.store.repos.tokens.findLiveByHash(hashSecret(token));
    if (!owner) return undefined;
    // Record use at most once a minute, so polling clients do not turn every read into a write.
    const now = this.clock();
    if (!owner.lastUsedAt || now.getTime() - Date.parse(owner.lastUsedAt) > 60_000) {
      await this.store.repos.tokens.markUsed(owner.userId, owner.tokenId, now.toISOString());
    }
    return { userId: owner.userId, email: owner.email, tokenId: owner.tokenId, applicationId: owner.applicationId };
  }
}

function toApplication(row: ApplicationRow): Application {
  return { id: row.id, name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toToken(row: TokenRow): ApiTokenInfo {
  return {
    id: row.id,
    applicationId: row.application_id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}
