/** Turns prompt text into fixed-length CLIP token ids (BOS + content + EOS, padded to `maxLength`). */
export interface TextTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  encode(text: string): number[];
}
