/**
 * The only module that imports onnxruntime-node. It opens one InferenceSession per model file (by path, so
 * external data — weights.pb, model.onnx_data, model.onnx.data — resolves next to model.onnx), exposes the
 * declared inputs, runs with host tensors and keeps the cumulative raw run time for the bench.
 */
import os from 'node:os';
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.ts';
import type { HostTensor, TensorData, TensorInfo, TensorType } from './tensor.ts';

export type Device = 'cpu' | 'cuda';

export interface RuntimeOptions {
  device?: Device;
  /** intra-op threads; defaults to the number of available cores. */
  threads?: number;
  /** Receives operational warnings (e.g. CUDA fallback). Defaults to silence. */
  logger?: (message: string) => void;
}

export interface ModelSession {
  readonly path: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Cumulative raw time inside ONNX Runtime's run() (what the bench divides by). */
  readonly stats: RunStats;
  /** Runs the model; `outputs` restricts what is fetched (all outputs by default). */
  run(feeds: Readonly<Record<string, HostTensor>>, outputs?: readonly string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

/** Cumulative time spent inside ONNX Runtime's run(), per session. */
export interface RunStats {
  runs: number;
  runMs: number;
}

export type SessionOpener = (path: string) => Promise<ModelSession>;

export function sessionOptions(threads: number, providers: readonly string[]): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [...providers],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // Idle ORT worker threads otherwise spin after each run, stealing CPU from the JS side and other work.
    // (The binding flattens nested keys, so the nested form is equivalent; this is ORT's documented key.)
    extra: { 'session.intra_op.allow_spinning': '0' },
    // Failures reach the caller as EngineErrors; ORT's own log lines would only duplicate them on stderr.
    logSeverityLevel: 4,
  };
}

/**
 * Returns a function that opens sessions with the given options. With device 'cuda' the CUDA execution provider
 * is tried first; when its libraries are missing (onnxruntime-node installed without the CUDA binaries) the
 * sessions fall back to CPU and the logger is told once.
 */
export function createSessionOpener(options: RuntimeOptions = {}): SessionOpener {
  // Process-wide ORT logger (e.g. a missing CUDA provider library): fatal only, we report through `logger`.
  ort.env.logLevel = 'fatal';
  const threads = options.threads ?? os.availableParallelism();
  const log = options.logger ?? (() => {});
  let useCuda = options.device === 'cuda';

  const open = async (path: string): Promise<ModelSession> => {
    let session: ort.InferenceSession | undefined;
    if (useCuda) {
      try {
        session = await ort.InferenceSession.create(path, sessionOptions(threads, ['cuda', 'cpu']));
      } catch (err) {
        useCuda = false;
        log(`CUDA execution provider unavailable, using CPU instead (${firstLine(err)})`);
      }
    }
    if (!session) {
      try {
        session = await ort.InferenceSession.create(path, sessionOptions(threads, ['cpu']));
      } catch (err) {
        throw new EngineError('model_invalid', `Cannot load ${path}: ${firstLine(err)}`, { cause: err });
      }
    }
    return wrapSession(path, session);
  };
  return open;
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) => ({
    name: m.name,
    type: m.isTensor ? m.type : 'non-tensor',
    shape: m.isTensor ? [...m.shape] : [],
  }));
}

function wrapSession(path: string, session: ort.InferenceSession): ModelSession {
  const record: RunStats = { runs: 0, runMs: 0 };
  return {
    path,
    inputs: describe(session.inputMetadata),
    outputs: describe(session.outputMetadata),
    stats: record,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const start = performance.now();
      let result: ort.InferenceSession.ReturnType;
      try {
        result = outputs ? await session.run(ortFeeds, [...outputs]) : await session.run(ortFeeds);
      } catch (err) {
        throw new EngineError('runtime_error', `Model ${path} failed to run: ${firstLine(err)}`, { cause: err });
      } finally {
        record.runs++;
        record.runMs += performance.now() - start;
      }
      const out: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(result)) {
        out[name] = { type: t.type as TensorType, data: t.data as TensorData, dims: [...t.dims] };
      }
      return out;
    },
    release: () => session.release(),
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}
