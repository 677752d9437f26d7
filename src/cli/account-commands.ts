/** `sdapi users create` and `sdapi tokens create`: run the services directly against the store. */
import { loadConfig } from '../config.ts';
import { AppError } from '../services/errors.ts';
import { CreditService } from '../services/credits/credit-service.ts';
import { ApplicationService } from '../services/identity/applications.ts';
import { UserService } from '../services/identity/users.ts';
import { openStore, type Store } from '../store/database.ts';
import { parseFlags, required } from './args.ts';

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(loadConfig().databaseUrl);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export async function usersCreate(argv: string[], io: Io): Promise<number> {
  const flags = parseFlags(argv, ['email', 'password', 'credits']);
  const email = required(flags, 'email');
  const password = required(flags, 'password');
  const credits = flags.credits === undefined ? loadConfig().signupCredits : Number(flags.credits);
  if (!Number.isSafeInteger(credits) || credits < 0) throw new AppError('validation_failed', `--credits must be a non-negative integer, got "${flags.credits}"`);
  return withStore(async (store) => {
    const user = await new UserService(store.db).create(email, password);
    if (credits > 0) await new CreditService(store.db).grant(user.id, credits, 'Initial credits (sdapi users create).');
    io.err(`created user ${user.email} (${user.id}) with ${credits} credits`);
    return 0;
  });
}

export async function tokensCreate(argv: string[], io: Io): Promise<number> {
  const flags = parseFlags(argv, ['email', 'application', 'name']);
  const email = required(flags, 'email');
  const appName = required(flags, 'application');
  return withStore(async (store) => {
    const user = await new UserService(store.db).requireByEmail(email);
    const applications = new ApplicationService(store.db);
    const application = (await applications.findByName(user.id, appName)) ?? (await applications.create(user.id, appName));
    const token = await applications.createToken(user.id, application.id, flags.name ?? 'cli');
    io.out(token.token);
    return 0;
  });
}
