/** The `invites` table: sign-up codes, stored as SHA-256 hashes. Redeeming is one conditional UPDATE, so a code is never used more often than allowed. */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database } from '../schema.ts';
import type { InvitesTable } from '../tables/identity.ts';

export type InviteRow = Selectable<InvitesTable>;

export class InvitesRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: InviteRow): Promise<void> {
    await this.db.insertInto('invites').values(row).execute();
  }

  /** Newest first. */
  async list(): Promise<InviteRow[]> {
    return this.db.selectFrom('invites').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
  }

  /** Uses the invite with this hash once, if it is live at `now` (not revoked, not expired, uses left); else undefined. */
  async redeem(codeHash: string, now: string): Promise<Pick<InviteRow, 'id' | 'credits'> | undefined> {
    return this.db
      .updateTable('invites')
      .set({ uses: sql<number>`uses + 1` })
      .where('code_hash', '=', codeHash)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .where((eb) => eb('uses', '<', eb.ref('max_uses')))
      .returning(['id', 'credits'])
      .executeTakeFirst();
  }

  /** Gives a use back (the account it was redeemed for could not be created). */
  async release(id: string): Promise<void> {
    await this.db.updateTable('invites').set({ uses: sql<number>`uses - 1` }).where('id', '=', id).where('uses', '>', 0).execute();
  }

  /** Returns how many were revoked (0: no such invite, or revoked already). */
  async revoke(id: string, revokedAt: string): Promise<number> {
    const result = await this.db.updateTable('invites').set({ revoked_at: revokedAt }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}
