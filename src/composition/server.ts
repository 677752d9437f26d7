/** `sdapi serve`: the runtime, the HTTP listener and N in-process workers, with one close() for a graceful stop. */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import type { JobWorker } from '../worker/job-worker.ts';
import { createLogger } from './logger.ts';
import { buildHttpApp, createWorker, openRuntime, type Runtime, type RuntimeOverrides } from './runtime.ts';
import { checkRedisAtStart, startHousekeeping } from './startup-checks.ts';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  worker: JobWorker;
  logger: Logger;
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, options: { overrides?: RuntimeOverrides; logger?: Logger } = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const runtime = await openRuntime(config, options.overrides);
  await checkRedisAtStart(runtime, logger);
  let app: FastifyInstance | undefined;
  const worker = createWorker(runtime, { concurrency: config.workers, logger });
  try {
    app = await buildHttpApp(runtime, { logger });
    app.server.keepAliveTimeout = 65_000;
    app.server.headersTimeout = 66_000;
    app.server.requestTimeout = 120_000;
    if (config.workers > 0) await worker.start();
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // e.g. EADDRINUSE: release everything so the process can exit with the error.
    await worker.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    throw err;
  }
  const listening = app;
  const address = listening.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const stopHousekeeping = startHousekeeping(runtime, logger);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await stopHousekeeping();
      await worker.stop();
      await listening.close();
      await runtime.close();
    })());
  return { app: listening, runtime, worker, logger, url: `http://${config.host}:${port}`, close };
}
