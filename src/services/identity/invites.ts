/**
 * Sign-up invites (SDAPI_SIGNUP=invite): codes the operator makes with `sdapi invites create`, each good for a number
 * of registrations until it expires. A code is shown once; the store keeps only its SHA-256.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../domain/clock.ts';
import { AppError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { DataStore } from '../../store/database.ts';
import type { InviteRow } from '../../store/repositories/invites.repo.ts';
import { hashSecret } from './secrets.ts';

export const INVITE_PREFIX = 'inv_';
/** Codes are typed into a form: anything longer than this is not one of ours (no lookup). */
const CODE_MAX = 100;

export interface Invite {
  id: string;
  /** Credits of an account made with it; null = the configured sign-up credits. */
  credits: number | null;
  maxUses: number;
  uses: number;
  expiresAt: string | null;
  revokedAt: string | null;
  createdAt: string;
}

export interface NewInvite extends Invite {
  /** The code itself: returned here only. */
  code: string;
}

export interface InviteOptions {
  credits?: number;
  /** Registrations the code allows (default 1). */
  uses?: number;
  /** Lifetime; none = until used up or revoked. */
  expiresInMs?: number;
}

export class InviteService {
  constructor(
    private readonly store: DataStore,
    private readonly clock: Clock = systemClock,
  ) {}

  async create(options: InviteOptions = {}): Promise<NewInvite> {
    const uses = options.uses ?? 1;
    if (!Number.isSafeInteger(uses) || uses < 1) throw AppError.validation({ uses: ['The uses must be a whole number of at least 1.'] });
    if (options.credits !== undefined && (!Number.isSafeInteger(options.credits) || options.credits < 0)) {
      throw AppError.validation({ credits: ['The credits must be a whole number of at least 0.'] });
    }
    if (options.expiresInMs !== undefined && !(options.expiresInMs > 0)) throw AppError.validation({ expires: ['The lifetime must be positive.'] });
    const code = INVITE_PREFIX + randomBytes(18).toString('base64url');
    const now = this.clock();
    const row: InviteRow = {
      id: randomUUID(),
      code_hash: hashSecret(code),
      credits: options.credits ?? null,
      max_uses: uses,
      uses: 0,
      expires_at: options.expiresInMs === undefined ? null : new Date(now.getTime() + options.expiresInMs).toISOString(),
      revoked_at: null,
      created_at: now.toISOString(),
    };
    await this.store.repos.invites.insert(row);
    return { ...toInvite(row), code };
  }

  async list(): Promise<Invite[]> {
    return (await this.store.repos.invites.list()).map(toInvite);
  }

  async revoke(id: string): Promise<void> {
    const revoked = isUuid(id) ? await this.store.repos.invites.revoke(id, this.clock().toISOString()) : 0;
    if (revoked === 0) throw new AppError('not_found', 'No such invite (or it is revoked already).');
  }

  /** Uses the code once; undefined when it is unknown, used up, expired or revoked (one answer for all: codes are secrets). */
  async redeem(code: string): Promise<{ id: string; credits: number | null } | undefined> {
    const trimmed = code.trim();
    if (trimmed.length === 0 || trimmed.length > CODE_MAX) return undefined;
    return this.store.repos.invites.redeem(hashSecret(trimmed), this.clock().toISOString());
  }

  /** Gives back a use taken by redeem() when the account could not be created after all. */
  async release(id: string): Promise<void> {
    await this.store.repos.invites.release(id);
  }
}

function toInvite(row: InviteRow): Invite {
  return {
    id: row.id,
    credits: row.credits === null ? null : Number(row.credits),
    maxUses: Number(row.max_uses),
    uses: Number(row.uses),
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    createdAt: row.created_at,
  };
}
