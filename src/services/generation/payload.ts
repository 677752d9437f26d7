/** The durable payload of a `generate` job: everything needed to (re)run it after a restart. */
import type { WeightedPrompt } from './image-generator.ts';

export const GENERATE_JOB = 'generate';

export interface GenerationPayload {
  entryId: string;
  threadId: string;
  userId: string;
  aiVersionCode: string;
  engine: string;
  modelDir: string;
  prompts: WeightedPrompt[];
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  sampler: string | null;
  /** Resolved seed (a random one when the caller gave none or 0); image i uses seed + i. */
  seed: number;
  images: number;
  style: string | null;
  cost: number;
}
