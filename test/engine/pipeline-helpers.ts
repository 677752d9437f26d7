/** Shared helpers for the engine pipeline/loader tests: tiny model paths and a recording session opener. */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/engine/model/loader.ts';
import { createSessionOpener, type ModelSession } from '../../src/engine/runtime/ort.ts';
import type { HostTensor } from '../../src/engine/runtime/tensor.ts';
import { StableDiffusionPipeline } from '../../src/engine/pipeline/text2img.ts';

export const TINY = join(import.meta.dirname, '..', '..', 'models', 'tiny');
export type TinyModel = 'sd1' | 'sd2-v' | 'sdxl' | 'lcm' | 'sd1-inpaint';
export const tiny = (name: TinyModel): string => join(TINY, name);

/** One recorded run: which component, and exactly what was fed (dtype, dims, a copy of the data). */
export interface RecordedRun {
  component: string;
  feeds: Record<string, { type: string; dims: number[]; data: HostTensor['data'] }>;
}

export interface Recorder {
  runs: RecordedRun[];
  of(component: string): RecordedRun[];
  clear(): void;
}

function copyData(data: HostTensor['data']): HostTensor['data'] {
  return data.slice() as HostTensor['data'];
}

/** Loads a tiny model with every session wrapped so each run's feeds are recorded. */
export async function loadRecorded(dir: string): Promise<{ pipeline: StableDiffusionPipeline; recorder: Recorder }> {
  const runs: RecordedRun[] = [];
  const open = createSessionOpener({ threads: 1 });
  const loaded = await loadModelFolder(dir, {
    openSession: async (path): Promise<ModelSession> => {
      const session = await open(path);
      const component = path.split(/[\\/]/).slice(-2, -1)[0];
      return {
        ...session,
        path: session.path,
        inputs: session.inputs,
        outputs: session.outputs,
        stats: session.stats,
        run(feeds, outputs) {
          const copy: RecordedRun['feeds'] = {};
          for (const [name, t] of Object.entries(feeds)) copy[name] = { type: t.type, dims: [...t.dims], data: copyData(t.data) };
          runs.push({ component, feeds: copy });
          return session.run(feeds, outputs);
        },
        release: () => session.release(),
      };
    },
  });
  const recorder: Recorder = {
    runs,
    of: (component) => runs.filter((r) => r.component === component),
    clear: () => runs.splice(0),
  };
  return { pipeline: new StableDiffusionPipeline(loaded), recorder };
}

/** Copies a tiny model to a temp dir (to break it); returns the path and a cleanup function. */
export function copyTiny(name: TinyModel): { dir: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'sdapi-tiny-'));
  const dir = join(root, name);
  cpSync(tiny(name), dir, { recursive: true });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
