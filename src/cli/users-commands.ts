/**
 * `sdapi users credits --email E --add N`: grant (N > 0) or remove (N < 0) credits through the ledger.
 * Bad input prints one line on stderr and returns exit code 2.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { CreditService } from '../services/credits/credit-service.ts';
import { isAppError } from '../services/errors.ts';
import { UserService } from '../services/identity/users.ts';
import { openStore } from '../store/database.ts';

const USAGE = 'usage: sdapi users credits --email EMAIL --add N [--reason TEXT]';

class UsageError extends Error {}

export async function runUsers(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (sub !== 'credits') throw new UsageError(sub ? `unknown users command "${sub}"` : 'missing users command');
    // `--add -50` would read as a flag to parseArgs; join a negative amount to its option.
    const args = rest.flatMap((arg, i) => (arg === '--add' && /^-\d+$/.test(rest[i + 1] ?? '') ? [] : i > 0 && rest[i - 1] === '--add' && /^-\d+$/.test(arg) ? [`--add=${arg}`] : [arg]));
    let values: { email?: string; add?: string; reason?: string };
    try {
      ({ values } = parseArgs({
        args,
        options: { email: { type: 'string' }, add: { type: 'string' }, reason: { type: 'string' } },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message.split('\n')[0] : String(err));
    }
    if (!values.email) throw new UsageError('--email is required');
    if (values.add === undefined) throw new UsageError('--add is required');
    if (!/^[+-]?\d+$/.test(values.add.trim()) || Number(values.add) === 0 || !Number.isSafeInteger(Number(values.add))) {
      throw new UsageError(`--add must be a non-zero whole number, got "${values.add}"`);
    }
    const amount = Number(values.add);
    const config = loadConfig(env);
    const store = await openStore(config.databaseUrl);
    try {
      const user = await new UserService(store.db).requireByEmail(values.email);
      const reason = values.reason?.trim() || (amount > 0 ? 'Granted by an administrator.' : 'Removed by an administrator.');
      const balance = await new CreditService(store.db).grant(user.id, amount, reason);
      process.stdout.write(`${amount > 0 ? 'Added' : 'Removed'} ${Math.abs(amount)} credits ${amount > 0 ? 'to' : 'from'} ${user.email}; balance is now ${balance}.\n`);
      return 0;
    } finally {
      await store.close();
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sdapi users: ${err.message} (${USAGE})\n`);
      return 2;
    }
    if (isAppError(err) && err.status < 500) {
      process.stderr.write(`sdapi users: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
