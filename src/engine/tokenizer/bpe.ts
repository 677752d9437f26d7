/**
 * Byte-level BPE as CLIP uses it (docs/engine-reference.md §3.1, §3.3): UTF-8 bytes mapped to printable code points
 * (`bytes_to_unicode`), the last symbol of a word suffixed with `</w>`, then the lowest-ranked adjacent pair merged
 * until no ranked pair remains.
 */

/** End-of-word suffix of CLIP's BPE symbols. */
export const END_OF_WORD = '</w>';

/**
 * GPT-2/CLIP `bytes_to_unicode`: bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` map to themselves, the other 68 byte values to
 * U+0100 + n in increasing byte order. Index = byte value.
 */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  }
  return table;
}

const BYTE_TABLE = bytesToUnicode();
const encoder = new TextEncoder();

/** Maps a string's UTF-8 bytes to the byte-level alphabet (one UTF-16 unit per byte). */
export function toByteLevel(text: string): string {
  let out = '';
  for (const byte of encoder.encode(text)) out += BYTE_TABLE[byte];
  return out;
}

/** BPE over a merge list with a bounded per-word cache. */
export class BytePairEncoder {
  readonly #ranks = new Map<string, number>();
  readonly #cache = new Map<string, readonly string[]>();

  /**
   * @param merges merge rules in rank order, each "left right" (no `#version` header)
   * @param cacheSize number of words whose result is remembered (oldest evicted first)
   */
  constructor(
    merges: readonly string[],
    private readonly cacheSize = 20_000,
  ) {
    for (let i = 0; i < merges.length; i++) {
      // Later duplicates never win: the first occurrence has the lower rank.
      if (!this.#ranks.has(merges[i])) this.#ranks.set(merges[i], i);
    }
  }

  get mergeCount(): number {
    return this.#ranks.size;
  }

  /** The BPE symbols of one pre-tokenised word already in the byte-level alphabet. */
  encodeWord(word: string): readonly string[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) return cached;
    const result = this.#bpe(word);
    if (this.#cache.size >= this.cacheSize) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(word, result);
    return result;
  }

  #bpe(word: string): string[] {
    const chars = Array.from(word);
    if (chars.length === 0) return [];
    let symbols = chars.slice(0, -1);
    symbols.push(chars[chars.length - 1] + END_OF_WORD);
    while (symbols.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.#ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          first = symbols[i];
          second = symbols[i + 1];
        }
      }
      if (best === Infinity) break;
      // Merge every non-overlapping occurrence of the pair, left to right.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i < symbols.length - 1 && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
