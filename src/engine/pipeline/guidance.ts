/** Classifier-free guidance on a batch-2 UNet output ordered [negative, positive] (docs/engine-reference.md §5.1). */

/**
 * ε = ε_u + g·(ε_c − ε_u), each operation rounded to float32 as numpy/torch do on float32 arrays.
 * `out` is reused across steps.
 */
export function applyCfg(batchOutput: Float32Array, scale: number, out: Float32Array): Float32Array {
  const n = out.length;
  const g = Math.fround(scale);
  for (let i = 0; i < n; i++) {
    const u = batchOutput[i];
    const c = batchOutput[n + i];
    out[i] = u + Math.fround(g * Math.fround(c - u));
  }
  return out;
}
