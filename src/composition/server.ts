/** `sdapi serve`: the runtime, the HTTP listener and N in-process workers, with one close() for a graceful stop. */
import { closeHttpServer, runStopSteps } from './stop-steps.ts';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import { createLogger } from './logger.ts';
import { buildHttpApp, openRuntime, type Runtime, type RuntimeOverrides } from './runtime.ts';
import { startGenerationWorkers, type GenerationWorkers } from './generation-workers.ts';
import { checkRedisAtStart, startHousekeeping } from './startup-checks.ts';

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  /** The in-process workers; undefined with SDAPI_WORKERS=0 (API only). */
  workers: GenerationWorkers | undefined;
  logger: Logger;
  url: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  overrides?: RuntimeOverrides;
  logger?: Logger;
  /** In-process workers load their models on first use instead of at start. */
  lazy?: boolean;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config);
  const runtime = await openRuntime(config, options.overrides, { logger, runsModels: config.workers > 0 });
  await checkRedisAtStart(runtime, logger);
  let app: FastifyInstance | undefined;
  let workers: GenerationWorkers | undefined;
  try {
    if (config.workers > 0) workers = await startGenerationWorkers(runtime, { concurrency: config.workers, lazy: options.lazy });
    app = await buildHttpApp(runtime, { logger });
    app.server.keepAliveTimeout = 65_000;
    app.server.headersTimeout = 66_000;
    app.server.requestTimeout = 120_000;
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // e.g. EADDRINUSE or a model that cannot load: release everything so the process can exit with the error.
    await workers?.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await runtime.close().catch(() => undefined);
    throw err;
  }
  runtime.services.sweeper.start();
  runtime.services.webhookDispatcher.start();
  const listening = app;
  const address = listening.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const stopHousekeeping = startHousekeeping(runtime, logger);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= runStopSteps(logger, [
      ['housekeeping', stopHousekeeping],
      ['the in-process workers', () => workers?.stop()],
      ['the HTTP server', () => closeHttpServer(listening, logger)],
      ['the runtime', () => runtime.close()],
    ]));
  return { app: listening, runtime, workers, logger, url: `http://${config.host}:${port}`, close };
}
