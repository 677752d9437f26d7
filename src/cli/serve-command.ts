/** `sdapi serve`: runs the API and the generation workers until SIGINT/SIGTERM. */
import { loadConfig } from '../config.ts';
import { startServer } from '../api/server.ts';
import { parseFlags } from './args.ts';

export async function serve(argv: string[]): Promise<number> {
  parseFlags(argv, []);
  const config = loadConfig();
  const debugJobDelayMs = Number(process.env.SDAPI_DEBUG_JOB_DELAY_MS ?? 0) || 0;
  const server = await startServer(config, { debugJobDelayMs });
  server.app.log.info({ url: server.url, dataDir: config.dataDir, model: config.defaultModelDir, workers: config.workers }, 'sdapi is serving');
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
