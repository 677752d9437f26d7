/** `sdapi tokens create`: a bearer token for an account's application (created when missing); only the token on stdout. */
import { Command } from 'commander';
import type { CliContext } from '../cli-context.ts';
import { withAccounts } from './users.command.ts';

export function tokensCommand(ctx: CliContext): Command {
  const tokens = new Command('tokens').description('manage bearer tokens');
  tokens
    .command('create')
    .description("print a new bearer token for the account's application (the application is created when missing)")
    .requiredOption('--email <email>', 'the account email')
    .requiredOption('--application <name>', 'the application the token belongs to')
    .option('--name <name>', 'the token name', 'cli')
    .action(async (options: { email: string; application: string; name: string }) => {
      await withAccounts(ctx, async ({ users, applications }) => {
        const user = await users.requireByEmail(options.email);
        const application = (await applications.findByName(user.id, options.application)) ?? (await applications.create(user.id, options.application));
        const token = await applications.createToken(user.id, application.id, options.name);
        ctx.io.out(token.token);
      });
    });
  return tokens;
}
