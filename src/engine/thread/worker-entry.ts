/**
 * Worker side of EngineThread: hosts loaded pipelines (one per model folder, loaded on first use, least recently
 * used unloaded first when `modelMemoryBytes` is set) and runs requests one at a time, so the main thread's event
 * loop never blocks on ONNX Runtime.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { resolve } from 'node:path';
import { EngineError } from '../errors.ts';
import { inspectModel, loadModel } from '../index.ts';
import type { StableDiffusionPipeline } from '../pipeline/text2img.ts';
import { ModelCache } from './model-cache.ts';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.ts';

if (!parentPort) throw new Error('worker-entry.ts must run inside a worker thread');
const port = parentPort;
const config = workerData as WorkerConfig;
const pipelines = new ModelCache<StableDiffusionPipeline>(config.modelMemoryBytes);

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function pipelineFor(modelDir: string): Promise<StableDiffusionPipeline> {
  const key = resolve(modelDir);
  return pipelines.get(
    key,
    async () => (await inspectModel(key)).sizeBytes,
    () =>
      loadModel(key, {
        device: config.device,
        strictDevice: config.strictDevice,
        threads: config.threads,
        logger: (message) => send({ type: 'log', message }),
      }),
  );
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case 'load': {
      const pipeline = await pipelineFor(message.modelDir);
      send({ type: 'info', id: message.id, info: pipeline.info });
      return;
    }
    case 'loaded':
      send({ type: 'loaded', id: message.id, modelDirs: await pipelines.keys() });
      return;
    case 'generate': {
      const cancelled = new Int32Array(message.cancelFlag);
      const controller = new AbortController();
      const checkCancel = (): void => {
        if (Atomics.load(cancelled, 0) === 1) controller.abort();
      };
      checkCancel();
      const pipeline = await pipelineFor(message.modelDir);
      checkCancel();
      const { id, previewIntervalMs, streamImages } = message;
      const { images, timings } = await pipeline.generate({
        ...message.options,
        signal: controller.signal,
        onProgress: (progress) => {
          send({ type: 'progress', id, progress });
          checkCancel(); // the pipeline checks the signal before the next UNet run
        },
        // A structured-clone copy: the image's own buffer is transferred later with the result.
        onImage: streamImages ? (image, index) => send({ type: 'image', id, index, image }) : undefined,
        preview:
          previewIntervalMs === undefined
            ? undefined
            : { intervalMs: previewIntervalMs, onPreview: (preview) => send({ type: 'preview', id, preview }, [preview.rgb.buffer as ArrayBuffer]) },
      });
      send({ type: 'result', id, images, timings }, images.map((image) => image.rgb.buffer as ArrayBuffer));
      return;
    }
    case 'close': {
      await pipelines.clear();
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
