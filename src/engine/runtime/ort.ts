/**
 * The only module that imports onnxruntime-node. It opens one InferenceSession per model file (by path, so
 * external data — weights.pb, model.onnx_data, model.onnx.data — resolves next to model.onnx), exposes the
 * declared inputs, runs with host tensors and keeps the cumulative raw run time for the bench.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.ts';
import type { HostTensor, TensorData, TensorInfo, TensorType } from './tensor.ts';

/** Where sessions run: 'cuda' is 'cuda:0'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
/** The device sessions actually use (after a CUDA fallback: 'cpu'). */
export type ResolvedDevice = 'cpu' | `cuda:${number}`;

export interface RuntimeOptions {
  device?: Device;
  /** With a CUDA device: fail with EngineError('device_unavailable') instead of falling back to CPU. */
  strictDevice?: boolean;
  /** intra-op threads; defaults to the number of available cores. */
  threads?: number;
  /** Receives operational warnings (e.g. CUDA fallback). Defaults to silence. */
  logger?: (message: string) => void;
}

export interface ModelSession {
  readonly path: string;
  /** The device this session was created for. */
  readonly device: ResolvedDevice;
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

let sessionsCreated = 0;
let sessionsReleased = 0;

/** Process-wide (per thread) count of ONNX Runtime sessions created so far: a read-only diagnostic. */
export function onnxSessionsCreated(): number {
  return sessionsCreated;
}

/** Sessions created and not yet released, in this thread. */
export function onnxSessionsOpen(): number {
  return sessionsCreated - sessionsReleased;
}

/**
 * 'cpu' | 'cuda' | 'cuda:N' → provider and CUDA device id.
 * @throws {EngineError} `invalid_argument` for anything else
 */
export function parseDevice(device: string): { provider: 'cpu' } | { provider: 'cuda'; deviceId: number } {
  if (device === 'cpu') return { provider: 'cpu' };
  const m = /^cuda(?::(\d{1,3}))?$/.exec(device);
  if (!m) throw new EngineError('invalid_argument', `Cannot use device: expected cpu, cuda or cuda:N, got ${JSON.stringify(device)}`);
  return { provider: 'cuda', deviceId: m[1] === undefined ? 0 : Number(m[1]) };
}

export function sessionOptions(threads: number, providers: ort.InferenceSession.SessionOptions['executionProviders']): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: providers,
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
 * Returns a function that opens sessions with the given options. With a CUDA device the CUDA execution provider is
 * tried first (CPU listed second, for the nodes CUDA has no kernel for). onnxruntime-node's CUDA provider takes
 * only `deviceId` (js/node/src/session_options_helper.cc); its other options keep ORT's defaults. When CUDA cannot
 * be used (provider libraries missing, no such GPU), the opener falls back to CPU for this and every later session
 * and tells the logger once — or, with `strictDevice`, fails with EngineError('device_unavailable').
 */
export function createSessionOpener(options: RuntimeOptions = {}): SessionOpener {
  // Process-wide ORT logger (e.g. a missing CUDA provider library): fatal only, we report through `logger`.
  ort.env.logLevel = 'fatal';
  const threads = options.threads ?? os.availableParallelism();
  const log = options.logger ?? (() => {});
  const device = parseDevice(options.device ?? 'cpu');
  let cuda = device.provider === 'cuda' ? device.deviceId : undefined;

  const create = async (path: string, providers: ort.InferenceSession.SessionOptions['executionProviders']): Promise<ort.InferenceSession> => {
    const session = await ort.InferenceSession.create(path, sessionOptions(threads, providers));
    sessionsCreated++;
    return session;
  };
  const openCpu = async (path: string): Promise<ort.InferenceSession> => {
    try {
      return await create(path, ['cpu']);
    } catch (err) {
      throw new EngineError('model_invalid', `Cannot load ${path}: ${firstLine(err)}`, { cause: err });
    }
  };

  return async (path: string): Promise<ModelSession> => {
    if (cuda === undefined) return wrapSession(path, await openCpu(path), 'cpu');
    const deviceId = cuda;
    try {
      return wrapSession(path, await create(path, [{ name: 'cuda', deviceId }, 'cpu']), `cuda:${deviceId}`);
    } catch (cudaError) {
      // Tell a CUDA problem from a broken model: if the CPU cannot load the file either, the file is the problem.
      const session = await openCpu(path);
      const reason = firstLine(cudaError);
      if (options.strictDevice) {
        await releaseSession(session);
        throw new EngineError('device_unavailable', `Cannot use device cuda:${deviceId}: the CUDA execution provider failed (${reason})`, {
          cause: cudaError,
        });
      }
      cuda = undefined;
      log(`CUDA execution provider unavailable, using CPU instead (cuda:${deviceId}: ${reason})`);
      return wrapSession(path, session, 'cpu');
    }
  };
}

export interface ExecutionProviderInfo {
  name: string;
  /** Shipped inside the onnxruntime-node package. */
  bundled: boolean;
  /** Bundled, or its provider library is present next to the binding (it may still fail to load, e.g. no CUDA). */
  installed: boolean;
}

export interface RuntimeDescription {
  onnxruntimeNode: string;
  providers: ExecutionProviderInfo[];
}

/** The execution providers this onnxruntime-node install offers, and its version (for diagnostics). */
export function describeRuntime(): RuntimeDescription {
  const bindingDir = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  const library = (name: string): string[] => [`libonnxruntime_providers_${name}.so`, `onnxruntime_providers_${name}.dll`, `libonnxruntime_providers_${name}.dylib`];
  return {
    onnxruntimeNode: ort.env.versions.node ?? ort.env.versions.common,
    providers: ort.listSupportedBackends().map((b) => ({
      name: b.name,
      bundled: b.bundled,
      installed: b.bundled || library(b.name).some((file) => existsSync(join(bindingDir, file))),
    })),
  };
}

async function releaseSession(session: ort.InferenceSession): Promise<void> {
  await session.release();
  sessionsReleased++;
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) => ({
    name: m.name,
    type: m.isTensor ? m.type : 'non-tensor',
    shape: m.isTensor ? [...m.shape] : [],
  }));
}

function wrapSession(path: string, session: ort.InferenceSession, device: ResolvedDevice): ModelSession {
  const record: RunStats = { runs: 0, runMs: 0 };
  return {
    path,
    device,
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
    release: () => releaseSession(session),
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].trim();
}
