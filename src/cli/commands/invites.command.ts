/** `sdapi invites create|list|revoke`: sign-up invite codes (SDAPI_SIGNUP=invite). Only the code goes to stdout. */
import { Command } from 'commander';
import type { CliContext } from '../cli-context.ts';
import { duration, integerIn } from '../options.ts';
import { withAccounts } from './users.command.ts';

export function invitesCommand(ctx: CliContext): Command {
  const invites = new Command('invites').description('sign-up invite codes (for SDAPI_SIGNUP=invite)');

  invites
    .command('create')
    .description('print a new invite code (shown once; only its hash is stored)')
    .option('--credits <n>', 'credits of an account made with it (default: SDAPI_SIGNUP_CREDITS)', integerIn(0, 1_000_000_000))
    .option('--uses <n>', 'registrations it allows', integerIn(1, 1_000_000), 1)
    .option('--expires <duration>', 'lifetime, e.g. 30m, 12h, 7d, 2w (default: until used up or revoked)', duration)
    .action(async (options: { credits?: number; uses: number; expires?: number }) => {
      await withAccounts(ctx, async ({ invites: service }) => {
        const invite = await service.create({ credits: options.credits, uses: options.uses, expiresInMs: options.expires });
        ctx.io.out(invite.code);
        const expiry = invite.expiresAt ? `expires ${invite.expiresAt}` : 'no expiry';
        ctx.io.err(`created invite ${invite.id}: ${invite.maxUses} use${invite.maxUses === 1 ? '' : 's'}, ${invite.credits ?? 'default'} credits, ${expiry}`);
      });
    });

  invites
    .command('list')
    .description('list invites (never their codes): id, uses, credits, expiry, state')
    .action(async () => {
      await withAccounts(ctx, async ({ invites: service }) => {
        for (const invite of await service.list()) {
          const state = invite.revokedAt ? 'revoked' : invite.uses >= invite.maxUses ? 'used up' : invite.expiresAt && Date.parse(invite.expiresAt) <= Date.now() ? 'expired' : 'live';
          ctx.io.out(`${invite.id}  ${invite.uses}/${invite.maxUses} used  credits ${invite.credits ?? 'default'}  ${invite.expiresAt ? `expires ${invite.expiresAt}` : 'no expiry'}  ${state}`);
        }
      });
    });

  invites
    .command('revoke')
    .description('revoke an invite: its code stops working at once')
    .requiredOption('--id <id>', 'the invite id (from `sdapi invites list`)')
    .action(async (options: { id: string }) => {
      await withAccounts(ctx, async ({ invites: service }) => {
        await service.revoke(options.id);
        ctx.io.err(`revoked invite ${options.id}`);
      });
    });

  return invites;
}
