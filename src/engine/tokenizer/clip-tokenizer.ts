/**
 * CLIP BPE tokenizer as Stable Diffusion's text encoders expect it (docs/engine-reference.md §3), read from a Hugging
 * Face tokenizer folder (`vocab.json`, `merges.txt`, optional `special_tokens_map.json` / `tokenizer_config.json`).
 *
 * Text handling equals Hugging Face's fast CLIP tokenizer for NFC/ASCII text: NFC → collapse whitespace → trim →
 * lowercase, split with CLIP's pattern (digits one by one), byte-level BPE with `</w>`. The ftfy / HTML-unescape
 * clean-up of the Python tokenizers is not reproduced (it only matters for mojibake and HTML entities).
 *
 * `<|startoftext|>` / `<|endoftext|>` written in a prompt become those special tokens, as in both reference
 * tokenizers. A BPE symbol missing from the vocabulary (only possible with a vocabulary that does not match its
 * merges) falls back to its single characters (the last one keeping `</w>`), each used if present in the
 * vocabulary and skipped otherwise — no `<unk>` id is ever inserted.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../errors.ts';
import { BytePairEncoder, END_OF_WORD, toByteLevel } from './bpe.ts';
import type { TextTokenizer } from './types.ts';

export const DEFAULT_BOS_TOKEN = '<|startoftext|>';
export const DEFAULT_EOS_TOKEN = '<|endoftext|>';
/** `model_max_length` of every SD tokenizer. */
export const DEFAULT_MAX_LENGTH = 77;

/** CLIP's pre-tokenisation pattern (simple_tokenizer.py / tokenization_clip.py). */
const WORD_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;
const SPECIAL_WORDS = new Set([DEFAULT_BOS_TOKEN, DEFAULT_EOS_TOKEN]);

export interface ClipTokenizerOptions {
  /** Padding token (default `<|endoftext|>`; SD2.x and SDXL `tokenizer_2` use `!`). */
  padToken?: string;
  bosToken?: string;
  eosToken?: string;
  /** Total sequence length including BOS and EOS (default 77). */
  maxLength?: number;
}

/** The three text files a tokenizer folder provides, already read. */
interface TokenizerFiles {
  dir: string;
  vocab: string;
  merges: string;
  specialTokensMap: string | undefined;
  tokenizerConfig: string | undefined;
}

/** CLIP tokenizer: `encode` gives exactly `maxLength` ids (BOS + ≤ maxLength−2 content ids + EOS + padding). */
export class ClipTokenizer implements TextTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly #vocab: Map<string, number>;
  readonly #bpe: BytePairEncoder;

  private constructor(vocab: Map<string, number>, bpe: BytePairEncoder, ids: { bos: number; eos: number; pad: number }, maxLength: number) {
    this.#vocab = vocab;
    this.#bpe = bpe;
    this.bosId = ids.bos;
    this.eosId = ids.eos;
    this.padId = ids.pad;
    this.maxLength = maxLength;
  }

  /**
   * Reads a Hugging Face tokenizer folder. The pad token is `special_tokens_map.json` `pad_token`, else
   * `tokenizer_config.json` `pad_token`, else `<|endoftext|>` (docs/engine-reference.md §3.5); the length is
   * `opts.maxLength`, else a sane `model_max_length`, else 77.
   * @throws {EngineError} `model_not_found` when `dir` is not a folder; `model_invalid` naming the file when a file
   *   is missing or broken, or a special token is not in the vocabulary
   * @example const tokenizer = await ClipTokenizer.fromDirectory('models/sd15/tokenizer');
   */
  static async fromDirectory(dir: string, opts: { maxLength?: number } = {}): Promise<ClipTokenizer> {
    await stat(dir).then(
      (s) => {
        if (!s.isDirectory()) throw notFound(dir);
      },
      () => {
        throw notFound(dir);
      },
    );
    const read = (name: string, required: boolean): Promise<string | undefined> =>
      readFile(join(dir, name), 'utf8').catch((err: unknown) => {
        if (!required && isMissing(err)) return undefined;
        throw fileError(dir, name, err);
      });
    const [vocab, merges, specialTokensMap, tokenizerConfig] = await Promise.all([
      read('vocab.json', true),
      read('merges.txt', true),
      read('special_tokens_map.json', false),
      read('tokenizer_config.json', false),
    ]);
    return ClipTokenizer.#fromFiles({ dir, vocab: vocab as string, merges: merges as string, specialTokensMap, tokenizerConfig }, opts);
  }

  /** Synchronous `fromDirectory` (same rules and errors), for loaders that read the folder synchronously. */
  static fromDirectorySync(dir: string, opts: { maxLength?: number } = {}): ClipTokenizer {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw notFound(dir);
    const read = (name: string, required: boolean): string | undefined => {
      try {
        return readFileSync(join(dir, name), 'utf8');
      } catch (err) {
        if (!required && isMissing(err)) return undefined;
        throw fileError(dir, name, err);
      }
    };
    return ClipTokenizer.#fromFiles(
      {
        dir,
        vocab: read('vocab.json', true) as string,
        merges: read('merges.txt', true) as string,
        specialTokensMap: read('special_tokens_map.json', false),
        tokenizerConfig: read('tokenizer_config.json', false),
      },
      opts,
    );
  }

  /**
   * Builds a tokenizer from an in-memory vocabulary and merge list.
   * @param merges merge rules "left right" in rank order, without the `#version` header
   * @throws {EngineError} `invalid_argument` when BOS/EOS/pad is not in the vocabulary or maxLength < 2
   */
  static fromVocab(
    vocab: Map<string, number> | Record<string, number>,
    merges: readonly string[],
    opts: ClipTokenizerOptions = {},
  ): ClipTokenizer {
    const map = vocab instanceof Map ? new Map(vocab) : new Map(Object.entries(vocab));
    return ClipTokenizer.#build(map, merges, opts, (message) => new EngineError('invalid_argument', message));
  }

  static #build(
    vocab: Map<string, number>,
    merges: readonly string[],
    opts: ClipTokenizerOptions,
    fail: (message: string) => EngineError,
  ): ClipTokenizer {
    const maxLength = opts.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw fail(`Cannot build the tokenizer: maxLength must be an integer >= 2: current value is ${maxLength}`);
    }
    const idOf = (role: string, token: string): number => {
      const id = vocab.get(token);
      if (id === undefined) throw fail(`Cannot build the tokenizer: the ${role} token ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    };
    const ids = {
      bos: idOf('bos', opts.bosToken ?? DEFAULT_BOS_TOKEN),
      eos: idOf('eos', opts.eosToken ?? DEFAULT_EOS_TOKEN),
      pad: idOf('pad', opts.padToken ?? DEFAULT_EOS_TOKEN),
    };
    return new ClipTokenizer(vocab, new BytePairEncoder(merges), ids, maxLength);
  }

  static #fromFiles(files: TokenizerFiles, opts: { maxLength?: number }): ClipTokenizer {
    const { dir } = files;
    const vocab = parseVocab(dir, files.vocab);
    const merges = parseMerges(dir, files.merges);
    const specialMap = files.specialTokensMap === undefined ? {} : parseJsonObject(dir, 'special_tokens_map.json', files.specialTokensMap);
    const config = files.tokenizerConfig === undefined ? {} : parseJsonObject(dir, 'tokenizer_config.json', files.tokenizerConfig);
    const token = (key: string): string | undefined =>
      tokenString(dir, 'special_tokens_map.json', key, specialMap[key]) ?? tokenString(dir, 'tokenizer_config.json', key, config[key]);
    const configLength = config.model_max_length;
    const saneLength = typeof configLength === 'number' && Number.isInteger(configLength) && configLength >= 2 && configLength <= 65536;
    return ClipTokenizer.#build(
      vocab,
      merges,
      {
        padToken: token('pad_token'),
        bosToken: token('bos_token'),
        eosToken: token('eos_token'),
        maxLength: opts.maxLength ?? (saneLength ? configLength : undefined),
      },
      (message) => new EngineError('model_invalid', `${message} (${join(dir, 'vocab.json')})`),
    );
  }

  /** The content ids of `text` (no BOS/EOS, no truncation). */
  contentIds(text: string): number[] {
    const normalized = text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
    const ids: number[] = [];
    for (const match of normalized.matchAll(WORD_PATTERN)) {
      const word = match[0];
      if (SPECIAL_WORDS.has(word)) {
        const id = this.#vocab.get(word);
        if (id !== undefined) ids.push(id);
        continue;
      }
      for (const symbol of this.#bpe.encodeWord(toByteLevel(word))) this.#pushSymbol(symbol, ids);
    }
    return ids;
  }

  /** BOS + all content ids + EOS, without truncation or padding. */
  tokenize(text: string): number[] {
    return [this.bosId, ...this.contentIds(text), this.eosId];
  }

  /** Exactly `maxLength` ids: BOS + content truncated to maxLength−2 + EOS + padding. */
  encode(text: string): number[] {
    const content = this.contentIds(text);
    const room = this.maxLength - 2;
    const ids = [this.bosId];
    for (let i = 0; i < content.length && i < room; i++) ids.push(content[i]);
    ids.push(this.eosId);
    while (ids.length < this.maxLength) ids.push(this.padId);
    return ids;
  }

  #pushSymbol(symbol: string, ids: number[]): void {
    const id = this.#vocab.get(symbol);
    if (id !== undefined) {
      ids.push(id);
      return;
    }
    const endOfWord = symbol.endsWith(END_OF_WORD);
    const chars = Array.from(endOfWord ? symbol.slice(0, -END_OF_WORD.length) : symbol);
    for (let i = 0; i < chars.length; i++) {
      const piece = endOfWord && i === chars.length - 1 ? chars[i] + END_OF_WORD : chars[i];
      const pieceId = this.#vocab.get(piece);
      if (pieceId !== undefined) ids.push(pieceId);
    }
  }
}

function notFound(dir: string): EngineError {
  return new EngineError('model_not_found', `Cannot read the tokenizer: ${dir} is not a folder`);
}

function isMissing(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}

function fileError(dir: string, name: string, err: unknown): EngineError {
  const problem = isMissing(err) ? 'the file is missing' : err instanceof Error ? err.message : String(err);
  return new EngineError('model_invalid', `Cannot read ${join(dir, name)}: ${problem}`, { cause: err });
}

function parseJsonObject(dir: string, name: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EngineError('model_invalid', `Cannot read ${join(dir, name)}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EngineError('model_invalid', `Cannot read ${join(dir, name)}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

function parseVocab(dir: string, text: string): Map<string, number> {
  const object = parseJsonObject(dir, 'vocab.json', text);
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(object)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new EngineError(
        'model_invalid',
        `Cannot read ${join(dir, 'vocab.json')}: ids must be non-negative integers: the id of ${JSON.stringify(token)} is ${JSON.stringify(id)}`,
      );
    }
    vocab.set(token, id);
  }
  if (vocab.size === 0) throw new EngineError('model_invalid', `Cannot read ${join(dir, 'vocab.json')}: the vocabulary is empty`);
  return vocab;
}

function parseMerges(dir: string, text: string): string[] {
  const lines = text.split('\n');
  const merges: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    if (line === '' || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new EngineError(
        'model_invalid',
        `Cannot read ${join(dir, 'merges.txt')}: line ${i + 1} must be two symbols separated by one space: current value is ${JSON.stringify(line.slice(0, 60))}`,
      );
    }
    merges.push(line);
  }
  if (merges.length === 0) throw new EngineError('model_invalid', `Cannot read ${join(dir, 'merges.txt')}: no merge rules`);
  return merges;
}

/** A special token value: a string or an AddedToken object `{ content }`; undefined/null when absent. */
function tokenString(dir: string, file: string, key: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new EngineError(
    'model_invalid',
    `Cannot read ${join(dir, file)}: '${key}' must be a string or an object with 'content': current value is ${JSON.stringify(value)}`,
  );
}
