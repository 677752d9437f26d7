/** `sdapi users create|credits|set`: accounts, their credits and scheduling settings, straight through the services (no server needed). */
import { Command } from 'commander';
import { openAccountRuntime, type AccountRuntime } from '../../composition/runtime.ts';
import { loadConfig } from '../../config/load-config.ts';
import { announceStore, type CliContext } from '../cli-context.ts';
import { ACCOUNT_PRIORITIES, MAX_QUEUED_LIMIT, MAX_RUNNING_LIMIT, type AccountPriority } from '../../domain/scheduling.ts';
import { integerIn, nonZeroInteger, oneOf } from '../options.ts';

export async function withAccounts<T>(ctx: CliContext, work: (accounts: AccountRuntime) => Promise<T>): Promise<T> {
  const config = loadConfig(ctx.env);
  announceStore(ctx, config);
  const accounts = await openAccountRuntime(config);
  try {
    return await work(accounts);
  } finally {
    await accounts.close();
  }
}

export function usersCommand(ctx: CliContext): Command {
  const users = new Command('users').description('manage accounts');

  users
    .command('create')
    .description('create an account (with SDAPI_SIGNUP_CREDITS credits unless --credits is given)')
    .requiredOption('--email <email>', 'the account email')
    .requiredOption('--password <password>', 'at least 10 characters, not a common password nor the email')
    .option('--credits <n>', 'starting credits', integerIn(0, Number.MAX_SAFE_INTEGER))
    .action(async (options: { email: string; password: string; credits?: number }) => {
      const credits = options.credits ?? loadConfig(ctx.env).signupCredits;
      await withAccounts(ctx, async ({ users: accounts, credits: ledger }) => {
        const user = await accounts.create(options.email, options.password);
        if (credits > 0) await ledger.grant(user.id, credits, 'Initial credits (sdapi users create).');
        ctx.io.err(`created user ${user.email} (${user.id}) with ${credits} credits`);
      });
    });

  users
    .command('credits')
    .description('grant (N > 0) or remove (N < 0) credits through the ledger')
    .requiredOption('--email <email>', 'the account email')
    .requiredOption('--add <n>', 'credits to add; negative removes', nonZeroInteger)
    .option('--reason <text>', 'shown in the ledger')
    .action(async (options: { email: string; add: number; reason?: string }) => {
      await withAccounts(ctx, async ({ users: accounts, credits: ledger }) => {
        const user = await accounts.requireByEmail(options.email);
        const amount = options.add;
        const reason = options.reason?.trim() || (amount > 0 ? 'Granted by an administrator.' : 'Removed by an administrator.');
        const balance = await ledger.grant(user.id, amount, reason);
        ctx.io.out(`${amount > 0 ? 'Added' : 'Removed'} ${Math.abs(amount)} credits ${amount > 0 ? 'to' : 'from'} ${user.email}; balance is now ${balance}.`);
      });
    });

  users
    .command('set')
    .description('set the account\'s scheduling priority and caps (docs/scheduling.md); prints the settings after the change')
    .requiredOption('--email <email>', 'the account email')
    .option('--priority <p>', `share of the workers when accounts compete: ${ACCOUNT_PRIORITIES.join(', ')} (weights 4, 2, 1)`, oneOf(ACCOUNT_PRIORITIES))
    .option('--max-running <n>', 'how many of its requests may generate at once, across all workers', integerIn(1, MAX_RUNNING_LIMIT))
    .option('--max-queued <n>', 'how many may wait; more answer 429 with Retry-After (0 refuses every new request)', integerIn(0, MAX_QUEUED_LIMIT))
    .action(async (options: { email: string; priority?: AccountPriority; maxRunning?: number; maxQueued?: number }) => {
      await withAccounts(ctx, async ({ users: accounts, scheduling }) => {
        const user = await accounts.requireByEmail(options.email);
        const s = await scheduling.set(user.id, { priority: options.priority, maxRunning: options.maxRunning, maxQueued: options.maxQueued });
        ctx.io.out(`${user.email}: priority ${s.priority}, max running ${s.maxRunning}, max queued ${s.maxQueued} (running ${s.running}, queued ${s.queued})`);
      });
    });

  return users;
}
