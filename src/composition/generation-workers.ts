/**
 * Generation workers as `sdapi worker` and `sdapi serve` (SDAPI_WORKERS ≥ 1) run them: every engine's model is
 * loaded once at start (unless lazy), so a model that cannot load stops start-up naming its engines; then the job
 * loops start, claiming only the runtime's engines, and the worker's heartbeat row says what it serves on which
 * device.
 */
import { StartupError } from '../domain/errors.ts';
import { modelTarget } from '../services/generation/engine-catalog.ts';
import { WorkerPresence } from '../services/fleet/worker-presence.ts';
import type { JobWorker } from '../worker/job-worker.ts';
import { createWorker, type Runtime } from './runtime.ts';

export interface GenerationWorkers {
  worker: JobWorker;
  presence: WorkerPresence;
  /** Hands running jobs back, then removes the heartbeat row. */
  stop(): Promise<void>;
}

export interface GenerationWorkersOptions {
  concurrency: number;
  /** Skip loading the models at start (the first job of each loads it). */
  lazy?: boolean;
  /** Heartbeat of the worker row (default WORKER_HEARTBEAT_MS). */
  heartbeatMs?: number;
  idleMs?: number;
}

/** Creates every engine's ONNX sessions once. @throws {StartupError} naming each engine whose model failed to load */
export async function preloadEngines(runtime: Runtime): Promise<void> {
  const problems: string[] = [];
  for (const { target, engines } of runtime.services.engines.models()) {
    const started = Date.now();
    try {
      const device = await runtime.generator.preload(target);
      runtime.logger.info({ model: target.dir, device, engines: engines.map((e) => e.id), ms: Date.now() - started }, 'model loaded');
    } catch (err) {
      const names = engines.map((e) => JSON.stringify(e.id)).join(', ');
      problems.push(`engine ${names}: cannot load the model ${target.dir} on ${target.device}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (problems.length > 0) throw new StartupError(problems);
}

export async function startGenerationWorkers(runtime: Runtime, options: GenerationWorkersOptions): Promise<GenerationWorkers> {
  if (!options.lazy) await preloadEngines(runtime);
  const { engines } = runtime.services;
  const worker = createWorker(runtime, { concurrency: options.concurrency, logger: runtime.logger, ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }) });
  await worker.start();
  const presence = new WorkerPresence({
    store: runtime.store,
    id: runtime.queue.owner,
    concurrency: options.concurrency,
    engines: () => engines.list().map((e) => ({ id: e.id, device: runtime.generator.deviceFor(modelTarget(e)) })),
    heartbeatMs: options.heartbeatMs,
    logger: runtime.logger,
  });
  try {
    await presence.start();
  } catch (err) {
    await worker.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    worker,
    presence,
    stop: () =>
      (stopping ??= (async () => {
        try {
          await worker.stop();
        } finally {
          await presence.stop();
        }
      })()),
  };
}
