/**
 * CLI dispatcher (bin/sdapi.js imports it). Bad input prints one line on stderr and exits 2.
 *   sdapi serve [--workers N]
 *   sdapi worker [--concurrency N]                      (generation workers only, for scale-out)
 *   sdapi users create --email E --password P [--credits N]
 *   sdapi users credits --email E --add N
 *   sdapi tokens create --email E --application NAME   (prints only the token on stdout)
 *   sdapi generate … | sdapi tokenize …                 (the engine, see engine-commands.ts; loaded on demand)
 */
import { isAppError } from '../services/errors.ts';
import { tokensCreate, usersCreate, type Io } from './account-commands.ts';
import { serve } from './serve-command.ts';
import { runUsers } from './users-commands.ts';

const USAGE = [
  'usage: sdapi <command> [options]',
  '  serve [--workers N]                                   run the API and N generation workers (0 = API only)',
  '  worker [--concurrency N]                              run generation workers only (shared database/queue)',
  '  users create --email E --password P [--credits N]     create an account',
  '  users credits --email E --add N                       grant or remove credits',
  '  tokens create --email E --application NAME            print a new bearer token',
  '  generate --model DIR --prompt TEXT …                  generate images without the server',
  '  tokenize --model DIR TEXT                             show CLIP token ids',
].join('\n');

const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(argv.slice(1));
      case 'worker':
        return await (await import('./worker-command.ts')).runWorker(argv.slice(1));
      case 'generate':
        return await (await import('./engine-commands.ts')).runGenerate(argv.slice(1));
      case 'tokenize':
        return await (await import('./engine-commands.ts')).runTokenize(argv.slice(1));
      case 'users':
        if (sub === 'create') return await usersCreate(rest, io);
        return await runUsers(argv.slice(1));
      case 'tokens':
        if (sub === 'create') return await tokensCreate(rest, io);
        io.err(`sdapi tokens: unknown command "${sub ?? ''}" (usage: sdapi tokens create --email E --application NAME)`);
        return 2;
      case undefined:
      case 'help':
      case '--help':
        io.err(USAGE);
        return command ? 0 : 2;
      default:
        io.err(`sdapi: unknown command "${command}"\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (isAppError(err) && err.status < 500) {
      const detail = err.fields ? Object.values(err.fields).flat()[0] : undefined;
      io.err(`sdapi ${command}: ${detail && detail !== err.message ? `${err.message} ${detail}` : err.message}`);
      return 2;
    }
    io.err(`sdapi ${command}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
