/**
 * Applications group a user's bearer tokens. Every query is scoped by user id, so another
 * account's application looks exactly like a missing one (404).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import { AppError } from '../errors.ts';
import { hashSecret, newBearerToken } from './secrets.ts';

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
export const APPLICATIONS_PER_USER_MAX = 100;
export const TOKENS_PER_APPLICATION_MAX = 50;

function checkName(name: string, field = 'name'): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > NAME_MAX) {
    throw AppError.validation({ [field]: [`The ${field} must be between 1 and ${NAME_MAX} characters.`] });
  }
  return trimmed;
}

export class ApplicationService {
  constructor(private readonly db: Kysely<Database>) {}

  async list(userId: string): Promise<Application[]> {
    const rows = await this.db
      .selectFrom('applications')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(toApplication);
  }

  async create(userId: string, name: string): Promise<Application> {
    const clean = checkName(name);
    const count = await this.db
      .selectFrom('applications')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= APPLICATIONS_PER_USER_MAX) {
      throw AppError.validation({ name: [`An account can have at most ${APPLICATIONS_PER_USER_MAX} applications.`] });
    }
    const now = new Date().toISOString();
    const row = { id: randomUUID(), user_id: userId, name: clean, created_at: now, updated_at: now };
    await this.db.insertInto('applications').values(row).execute();
    return toApplication(row);
  }

  async findByName(userId: string, name: string): Promise<Application | undefined> {
    const row = await this.db
      .selectFrom('applications')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name.trim())
      .executeTakeFirst();
    return row && toApplication(row);
  }

  async get(userId: string, id: string): Promise<Application> {
    // Ids are UUIDs: anything else is missing without a query (PostgreSQL refuses NUL bytes in text).
    if (!ID.test(id)) throw new AppError('not_found', 'Application not found.');
    const row = await this.db
      .selectFrom('applications')
      .selectAll()
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new AppError('not_found', 'Application not found.');
    return toApplication(row);
  }

  async rename(userId: string, id: string, name: string): Promise<Application> {
    const clean = checkName(name);
    await this.get(userId, id);
    await this.db
      .updateTable('applications')
      .set({ name: clean, updated_at: new Date().toISOString() })
      .where('user_id', '=', userId)
      .where('id', '=', id)
      .execute();
    return this.get(userId, id);
  }

  /** Deleting an application deletes (and so revokes) its tokens in the same transaction. */
  async delete(userId: string, id: string): Promise<void> {
    await this.get(userId, id);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('api_tokens').where('application_id', '=', id).where('user_id', '=', userId).execute();
      await trx.deleteFrom('applications').where('id', '=', id).where('user_id', '=', userId).execute();
    });
  }

  /** Creates a token; the plain token is returned here only and never stored. */
  async createToken(userId: string, applicationId: string, name = 'default'): Promise<ApiTokenInfo & { token: string }> {
    const clean = checkName(name);
    await this.get(userId, applicationId);
    const count = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('application_id', '=', applicationId)
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= TOKENS_PER_APPLICATION_MAX) {
      throw AppError.validation({ name: [`An application can have at most ${TOKENS_PER_APPLICATION_MAX} active tokens.`] });
    }
    const { token, prefix, hash } = newBearerToken();
    const row = {
      id: randomUUID(),
      application_id: applicationId,
      user_id: userId,
      name: clean,
      prefix,
      token_hash: hash,
      created_at: new Date().toISOString(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('api_tokens').values(row).execute();
    return { ...toToken(row), token };
  }

  async listTokens(userId: string, applicationId: string): Promise<ApiTokenInfo[]> {
    await this.get(userId, applicationId);
    const rows = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('application_id', '=', applicationId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
    return rows.map(toToken);
  }

  async revokeToken(userId: string, applicationId: string, tokenId: string): Promise<void> {
    if (!ID.test(applicationId) || !ID.test(tokenId)) throw new AppError('not_found', 'Token not found.');
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where('user_id', '=', userId)
      .where('application_id', '=', applicationId)
      .where('id', '=', tokenId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw new AppError('not_found', 'Token not found.');
  }

  /** Resolves a bearer token to its owner; revoked or unknown tokens resolve to nothing. */
  async authenticate(token: string): Promise<TokenPrincipal | undefined> {
    if (token.length === 0 || token.length > 200) return undefined;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select(['api_tokens.id as tokenId', 'api_tokens.application_id as applicationId', 'users.id as userId', 'users.email as email', 'api_tokens.last_used_at as lastUsedAt'])
      .where('api_tokens.token_hash', '=', hashSecret(token))
      .where('api_tokens.revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) return undefined;
    // Record use at most once a minute, so polling clients do not turn every read into a write.
    const now = new Date();
    if (!row.lastUsedAt || now.getTime() - Date.parse(row.lastUsedAt) > 60_000) {
      await this.db.updateTable('api_tokens').set({ last_used_at: now.toISOString() }).where('id', '=', row.tokenId).execute();
    }
    return { userId: row.userId, email: row.email, tokenId: row.tokenId, applicationId: row.applicationId };
  }
}

function toApplication(row: { id: string; name: string; created_at: string; updated_at: string }): Application {
  return { id: row.id, name: row.name, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toToken(row: Database['api_tokens']): ApiTokenInfo {
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
