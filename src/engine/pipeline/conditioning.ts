/**
 * Text conditioning: weighted prompts -> the embeddings the UNet cross-attends to
 * (docs/engine-reference.md §2.3, §5.3, §5.4).
 *
 * Prompt combination (documented in docs/models.md): weight > 0 prompts form the positive side, weight < 0 the
 * negative (unconditional) side, weight 0 is ignored. When a side has several prompts, its embedding is the
 * weighted average of the prompts' embeddings — sequence and pooled alike — with weights |w| / Σ|w|. A side with
 * one prompt uses that prompt's embedding unchanged (so single prompts match diffusers bit for bit).
 */
import { EngineError } from '../errors.ts';
import type { LoadedModel, TextEncoderModel } from '../model/types.ts';
import type { WeightedPrompt } from '../types.ts';
import { idsFeed, outputFloat32 } from './feeds.ts';

export interface TextEmbedding {
  /** [tokens, width] row-major; width = sum of the encoders' hidden sizes. */
  sequence: Float32Array;
  tokens: number;
  width: number;
  /** SDXL: text_embeds of encoder 2. */
  pooled?: Float32Array;
}

export interface PromptSides {
  positive: WeightedPrompt[];
  negative: WeightedPrompt[];
}

export function splitPrompts(prompts: readonly WeightedPrompt[]): PromptSides {
  return {
    positive: prompts.filter((p) => p.weight > 0),
    negative: prompts.filter((p) => p.weight < 0),
  };
}

/** Encodes texts once per request; the same text on both sides (or twice) reuses its embedding. */
export class PromptEncoder {
  private readonly cache = new Map<string, Promise<TextEmbedding>>();

  constructor(private readonly model: LoadedModel) {}

  encode(text: string): Promise<TextEmbedding> {
    let cached = this.cache.get(text);
    if (!cached) {
      cached = encodeText(this.model, text);
      this.cache.set(text, cached);
    }
    return cached;
  }

  /** The weighted average of the prompts' embeddings (see the module comment). */
  async encodeSide(prompts: readonly WeightedPrompt[]): Promise<TextEmbedding> {
    const embeddings: TextEmbedding[] = [];
    for (const p of prompts) embeddings.push(await this.encode(p.text));
    if (embeddings.length === 1) return embeddings[0];
    return weightedAverage(embeddings, prompts.map((p) => Math.abs(p.weight)));
  }
}

export function weightedAverage(embeddings: readonly TextEmbedding[], weights: readonly number[]): TextEmbedding {
  const total = weights.reduce((a, w) => a + w, 0);
  const first = embeddings[0];
  const mix = (pick: (e: TextEmbedding) => Float32Array): Float32Array => {
    const out = new Float32Array(pick(first).length);
    for (let i = 0; i < out.length; i++) {
      let acc = 0;
      for (let k = 0; k < embeddings.length; k++) acc += pick(embeddings[k])[i] * weights[k];
      out[i] = acc / total;
    }
    return out;
  };
  return {
    sequence: mix((e) => e.sequence),
    tokens: first.tokens,
    width: first.width,
    pooled: first.pooled ? mix((e) => e.pooled as Float32Array) : undefined,
  };
}

/** SDXL's force_zeros_for_empty_prompt: zero sequence and pooled embeddings shaped like `like`. */
export function zeroEmbedding(like: TextEmbedding): TextEmbedding {
  return {
    sequence: new Float32Array(like.sequence.length),
    tokens: like.tokens,
    width: like.width,
    pooled: like.pooled ? new Float32Array(like.pooled.length) : undefined,
  };
}

async function runEncoder(encoder: TextEncoderModel, text: string): Promise<{ hidden: Float32Array; tokens: number; width: number; pooled?: Float32Array }> {
  const ids = encoder.tokenizer.encode(text);
  const where = `${encoder.name}/model.onnx`;
  const wanted = encoder.pooledOutput ? [encoder.sequenceOutput, encoder.pooledOutput] : [encoder.sequenceOutput];
  const outputs = await encoder.session.run({ input_ids: idsFeed(ids, encoder.idsType) }, wanted);
  const hidden = outputFloat32(outputs, encoder.sequenceOutput, where);
  const dims = outputs[encoder.sequenceOutput].dims;
  if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== ids.length) {
    throw new EngineError('model_invalid', `${where}: ${encoder.sequenceOutput} has shape [${dims.join(', ')}], expected [1, ${ids.length}, width]`);
  }
  const pooled = encoder.pooledOutput ? outputFloat32(outputs, encoder.pooledOutput, where) : undefined;
  return { hidden, tokens: dims[1], width: dims[2], pooled };
}

/**
 * One text through every encoder. SD1/SD2: last_hidden_state. SDXL: hidden_states.{N-1} of both encoders
 * concatenated along the width (768 ‖ 1280 -> 2048), pooled = text_embeds of encoder 2 (docs/engine-reference.md §5.3).
 */
export async function encodeText(model: LoadedModel, text: string): Promise<TextEmbedding> {
  const parts = [];
  for (const encoder of model.textEncoders) parts.push(await runEncoder(encoder, text));
  const tokens = parts[0].tokens;
  if (parts.some((p) => p.tokens !== tokens)) {
    throw new EngineError('model_invalid', 'The text encoders returned different sequence lengths');
  }
  const width = parts.reduce((a, p) => a + p.width, 0);
  const expected = model.unet.crossAttentionDim;
  if (expected !== undefined && width !== expected) {
    throw new EngineError('model_invalid', `Text encoder width ${width} does not match the UNet cross-attention dim ${expected}`);
  }
  let sequence: Float32Array;
  if (parts.length === 1) {
    sequence = parts[0].hidden;
  } else {
    sequence = new Float32Array(tokens * width);
    for (let t = 0; t < tokens; t++) {
      let offset = t * width;
      for (const p of parts) {
        sequence.set(p.hidden.subarray(t * p.width, (t + 1) * p.width), offset);
        offset += p.width;
      }
    }
  }
  const pooled = parts.find((p) => p.pooled)?.pooled;
  return { sequence, tokens, width, pooled };
}
