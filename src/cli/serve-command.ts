/** `sdapi serve [--workers N]`: runs the API and N in-process generation workers (0 = API only) until SIGINT/SIGTERM. */
import { loadConfig } from '../config.ts';
import { startServer } from '../api/server.ts';
import { AppError } from '../services/errors.ts';
import { parseFlags } from './args.ts';

export async function serve(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, ['workers']);
  if (flags.workers !== undefined && !/^(?:[0-9]|[1-5][0-9]|6[0-4])$/.test(flags.workers)) {
    throw new AppError('validation_failed', `--workers must be an integer between 0 and 64, got "${flags.workers}"`);
  }
  const config = loadConfig(flags.workers === undefined ? process.env : { ...process.env, SDAPI_WORKERS: flags.workers });
  const debugJobDelayMs = Number(process.env.SDAPI_DEBUG_JOB_DELAY_MS ?? 0) || 0;
  const server = await startServer(config, { debugJobDelayMs });
  server.app.log.info(
    { url: server.url, dataDir: config.dataDir, model: config.defaultModelDir, workers: config.workers, database: server.services.store.dialect, queue: config.queueUrl ? 'redis' : 'embedded' },
    'sdapi is serving',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      server.app.log.info({ signal }, 'stopping');
      server.close().then(resolve, (err) => {
        server.app.log.error({ err }, 'error while stopping');
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
