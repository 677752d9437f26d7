/** The `api_tokens` table: bearer tokens, stored as SHA-256 hashes. Every method but the hash lookup is scoped by user id. */
import type { Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { ApiTokensTable } from '../tables/identity.ts';

export type TokenRow = Selectable<ApiTokensTable>;

/** A live token with its owner, as authentication needs it. */
export interface TokenOwner {
  tokenId: string;
  applicationId: string;
  userId: string;
  email: string;
  lastUsedAt: string | null;
}

export class TokensRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async countActive(userId: string, applicationId: string): Promise<number> {
    const row = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('application_id', '=', applicationId)
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insert(row: TokenRow): Promise<void> {
    await this.db.insertInto('api_tokens').values(row).execute();
  }

  async list(userId: string, applicationId: string): Promise<TokenRow[]> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('application_id', '=', applicationId)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .execute();
  }

  /** Returns how many tokens were revoked (0 when missing, another user's or already revoked). */
  async revoke(userId: string, applicationId: string, change: { tokenId: string; revokedAt: string }): Promise<number> {
    const result = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: change.revokedAt })
      .where('user_id', '=', userId)
      .where('application_id', '=', applicationId)
      .where('id', '=', change.tokenId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async deleteForApplication(userId: string, applicationId: string): Promise<void> {
    await this.db.deleteFrom('api_tokens').where('application_id', '=', applicationId).where('user_id', '=', userId).execute();
  }

  /** The live (not revoked) token with this hash and its owner. Authentication: there is no user id yet. */
  async findLiveByHash(tokenHash: string): Promise<TokenOwner | undefined> {
    return this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .select(['api_tokens.id as tokenId', 'api_tokens.application_id as applicationId', 'users.id as userId', 'users.email as email', 'api_tokens.last_used_at as lastUsedAt'])
      .where('api_tokens.token_hash', '=', tokenHash)
      .where('api_tokens.revoked_at', 'is', null)
      .executeTakeFirst();
  }

  /** Deletes tokens revoked at or before `time` (housekeeping); returns how many went. */
  async deleteRevokedBefore(time: string): Promise<number> {
    const result = await this.db.deleteFrom('api_tokens').where('revoked_at', 'is not', null).where('revoked_at', '<=', time).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async markUsed(userId: string, tokenId: string, usedAt: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: usedAt }).where('id', '=', tokenId).where('user_id', '=', userId).execute();
  }
}
