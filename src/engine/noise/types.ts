/** A deterministic source of standard-normal float32 noise, consumed in call order. */
export interface NoiseSource {
  /** Returns `count` N(0,1) samples as diffusers' generator would draw a tensor of that many elements. */
  randn(count: number): Float32Array;
}
