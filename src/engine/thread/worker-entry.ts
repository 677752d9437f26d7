/**
 * Worker side of EngineThread: hosts loaded pipelines (one per model folder, loaded on first use) and runs
 * generations one at a time, so the main thread's event loop never blocks on ONNX Runtime.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { EngineError } from '../errors.ts';
import { loadModel } from '../index.ts';
import type { StableDiffusionPipeline } from '../pipeline/text2img.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.ts';

if (!parentPort) throw new Error('worker-entry.ts must run inside a worker thread');
const port = parentPort;
const config = workerData as WorkerConfig;
const pipelines = new Map<string, Promise<StableDiffusionPipeline>>();
let progressEvents = 0;

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function pipelineFor(modelDir: string): Promise<StableDiffusionPipeline> {
  const key = resolve(modelDir);
  let pipeline = pipelines.get(key);
  if (!pipeline) {
    pipeline = loadModel(key, { device: config.device, threads: config.threads, logger: (message) => send({ type: 'log', message }) });
    // A failed load is not cached: the folder may be fixed and retried.
    pipeline.catch(() => pipelines.delete(key));
    pipelines.set(key, pipeline);
  }
  return pipeline;
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'info': {
      const pipeline = await pipelineFor(message.modelDir);
      send({ type: 'info', id: message.id, info: pipeline.info });
      return;
    }
    case 'loaded': {
      const loaded = await Promise.allSettled(
        [...pipelines.entries()].map(async ([dir, pipeline]) => {
          await pipeline; // a folder that failed to load is not loaded
          return dir;
        }),
      );
      const modelDirs = loaded.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      send({ type: 'loaded', id: message.id, modelDirs });
      return;
    }
    case 'generate': {
      const cancelled = new Int32Array(message.cancelFlag);
      const controller = new AbortController();
      const checkCancel = (): void => {
        if (Atomics.load(cancelled, 0) === 1) controller.abort();
      };
      checkCancel();
      const pipeline = await pipelineFor(message.modelDir);
      checkCancel();
      const images = await pipeline.generate({
        ...message.options,
        signal: controller.signal,
        onProgress: (progress) => {
          send({ type: 'progress', id: message.id, progress });
          if (config.exitAfterProgressEvents !== undefined && ++progressEvents >= config.exitAfterProgressEvents) process.exit(70);
          checkCancel(); // the pipeline checks the signal before the next UNet run
        },
      });
      send({ type: 'images', id: message.id, images }, images.map((image) => image.rgb.buffer as ArrayBuffer));
      return;
    }
    case 'close': {
      const loaded = await Promise.allSettled([...pipelines.values()]);
      pipelines.clear();
      for (const result of loaded) if (result.status === 'fulfilled') await result.value.dispose();
      send({ type: 'closed', id: message.id });
      port.close();
      return;
    }
  }
}

// Requests run strictly one after another: ONNX Runtime already uses every core for one model run.
let queue: Promise<void> = Promise.resolve();
port.on('message', (message: ToWorker) => {
  queue = queue.then(() =>
    handle(message).catch((err: unknown) => {
      const code = err instanceof EngineError ? err.code : 'runtime_error';
      const text = err instanceof Error ? err.message : String(err);
      send({ type: 'error', id: message.id, code, message: text });
    }),
  );
});
