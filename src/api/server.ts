/** `sdapi serve`: store + services + workers + HTTP listener, with a graceful stop on SIGINT/SIGTERM. */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import { createServices, type ServiceOverrides, type Services } from '../services/index.ts';
import { openStore } from '../store/database.ts';
import { GenerationWorker, heartbeatFor } from '../worker/generation-worker.ts';
import { buildApp } from './app.ts';
import { createSessionAuthenticator } from './session-auth.ts';

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  worker: GenerationWorker;
  url: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, options: { overrides?: ServiceOverrides; debugJobDelayMs?: number } = {}): Promise<RunningServer> {
  const store = await openStore(config.databaseUrl);
  const services = createServices(store, config, options.overrides);
  const app = await buildApp({
    services,
    sessionAuthenticator: createSessionAuthenticator(services.sessions),
    logger: { level: config.logLevel },
  });
  app.server.keepAliveTimeout = 65_000;
  app.server.headersTimeout = 66_000;
  app.server.requestTimeout = 120_000;
  const worker = new GenerationWorker(
    { jobs: services.jobs, generation: services.generation },
    { concurrency: config.workers, logger: app.log, debugJobDelayMs: options.debugJobDelayMs, heartbeatMs: heartbeatFor(config.jobLeaseMs) },
  );
  try {
    if (config.workers > 0) await worker.start();
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    // e.g. EADDRINUSE: release everything so the process can exit with the error.
    await worker.stop().catch(() => undefined);
    await app.close().catch(() => undefined);
    await services.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await worker.stop();
      await app.close();
      await services.close();
      await store.close();
    })());
  return { app, services, worker, url: `http://${config.host}:${port}`, close };
}
