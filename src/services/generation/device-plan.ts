/**
 * Which device each engine runs on in this process. An engine asks for its registry "device" or the process's
 * (SDAPI_DEVICE / --device). Where this onnxruntime-node install has no CUDA execution provider, CUDA engines run
 * on the CPU with one warning, or (strict) start-up fails naming them. A provider that is installed but cannot be
 * used (no driver, no such GPU) is found when the model loads: the engine falls back then (or fails, strict).
 */
import { describeRuntime, type RuntimeDescription } from '../../engine/index.ts';
import { normalDevice } from '../../domain/devices.ts';
import { StartupError } from '../../domain/errors.ts';
import type { Engine } from './engine-catalog.ts';

export const GPU_DOCS = 'docs/models.md, "GPU (CUDA)"';

export interface DevicePlan {
  /** The engines with the device they will use. */
  engines: Engine[];
  /** For the log, once at start. */
  warnings: string[];
}

export function planDevices(engines: readonly Engine[], options: { strict: boolean; runtime?: RuntimeDescription }): DevicePlan {
  const runtime = options.runtime ?? describeRuntime();
  const cudaInstalled = runtime.providers.some((p) => p.name === 'cuda' && p.installed);
  const wantCuda = engines.filter((e) => e.device !== 'cpu');
  if (cudaInstalled || wantCuda.length === 0) return { engines: engines.map((e) => ({ ...e, device: normalDevice(e.device) })), warnings: [] };
  const why = `this onnxruntime-node ${runtime.onnxruntimeNode} install has no CUDA execution provider (see ${GPU_DOCS})`;
  if (options.strict) {
    throw new StartupError(wantCuda.map((e) => `engine ${JSON.stringify(e.id)}: device ${normalDevice(e.device)} is not available: ${why}; SDAPI_DEVICE_STRICT=1 forbids the CPU fallback`));
  }
  return {
    engines: engines.map((e) => ({ ...e, device: 'cpu' })),
    warnings: [`${why}: ${wantCuda.map((e) => `${e.id} (${normalDevice(e.device)})`).join(', ')} run on the CPU instead`],
  };
}

/** Node's and onnxruntime-node's versions and the execution providers of this install (`sdapi engines check`). */
export function runtimeReport(): { node: string; runtime: RuntimeDescription } {
  return { node: process.version, runtime: describeRuntime() };
}
