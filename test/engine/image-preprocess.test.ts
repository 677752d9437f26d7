import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import { gaussianBlur, maskFromAlpha, maskFromImage, prepareMask } from '../../src/engine/pipeline/mask.ts';
import { resizeLanczos } from '../../src/engine/pipeline/resize.ts';

/** The reference script's test images (scripts/tiny-models/img2img_reference.py, test_image). */
function testImage(width: number, height: number, channels: number, kind: 'noise' | 'ramp'): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        // xor on 32-bit ints is exact here: every operand stays below 2^31.
        const value = kind === 'noise' ? ((x * 7919 + y * 104729 + c * 15485863) ^ (x * y)) & 255 : (Math.floor((x * 255) / Math.max(width - 1, 1)) + 3 * y + 40 * c) % 256;
        out[(y * width + x) * channels + c] = value;
      }
    }
  }
  return out;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe("Lanczos resize (golden: Pillow 9.4 Image.resize(..., LANCZOS), docs/engine-reference.md §6.4)", () => {
  const cases: Array<[number, number, number, 'noise' | 'ramp', number, number, string]> = [
    [13, 7, 3, 'noise', 8, 4, '24a6b5fefaedcf7b37680b71102e2128dda9cca343b15e5af72bdb54c4edcdb3'],
    [13, 7, 3, 'noise', 24, 16, '235083f34f7465e06ee7baeef35de050b8ffede37a8d50c14ba88d97240fab15'],
    [13, 7, 3, 'ramp', 8, 16, '2e0eb3a576862f3bfcbe68444c4ed0936b4cb78028e0339b65619becb033213b'],
    [640, 480, 3, 'noise', 512, 512, 'eabfbf777d676b8f2b596b2188f7694a10a577fb0a3ea685fa926dc3968b2169'],
    [300, 200, 3, 'ramp', 512, 320, 'd821876ea5286a014d2824b2968f6ad254c5653cef74172c71ec4b4ecd4ee517'],
    [97, 61, 1, 'noise', 64, 48, 'd1731f3480e05cc00d0b8f3c20c922c83c61e449cfdd796f04aae5058caa5126'],
    [64, 48, 1, 'noise', 64, 32, '71b07211ca83d998d759831254b2dbeaf7fc22c93e03c75d7507811bf810e2b3'],
    [64, 48, 3, 'noise', 40, 48, 'f08791c6cc3c815ff5bdb7c3205c063dba9498e0dcf3d6486de87e345e61701d'],
    [17, 9, 1, 'ramp', 200, 100, '3d09245830c1c385ff0295c4a899d26a4471424f686df2e5dd6b3c6f5a317cef'],
  ];
  for (const [width, height, channels, kind, outWidth, outHeight, hash] of cases) {
    it(`${kind} ${width}×${height}×${channels} → ${outWidth}×${outHeight} is byte-identical to Pillow`, () => {
      const out = resizeLanczos(testImage(width, height, channels, kind), width, height, channels, outWidth, outHeight);
      assert.equal(out.length, outWidth * outHeight * channels);
      assert.equal(sha256(out), hash);
    });
  }

  it('returns a copy at the same size, and keeps a flat image flat', () => {
    const image = testImage(8, 8, 3, 'noise');
    const same = resizeLanczos(image, 8, 8, 3, 8, 8);
    assert.deepEqual(same, image);
    assert.notEqual(same.buffer, image.buffer);
    const flat = resizeLanczos(new Uint8Array(10 * 6 * 3).fill(200), 10, 6, 3, 33, 17);
    assert.ok(flat.every((v) => v === 200));
  });

  it('rejects sizes that are not positive integers and buffers of the wrong length', () => {
    assert.throws(() => resizeLanczos(new Uint8Array(12), 2, 2, 3, 0, 4), /^EngineError: Cannot resize an image: outWidth must be an integer >= 1, got 0$/);
    assert.throws(() => resizeLanczos(new Uint8Array(11), 2, 2, 3, 4, 4), /^EngineError: Cannot resize an image: 2×2×3 needs 12 bytes, got 11$/);
  });
});

describe('masks from what the API receives (MASK_IMAGE_WHITE, MASK_IMAGE_BLACK, INIT_IMAGE_ALPHA)', () => {
  // Pillow 9.4 convert("L") of [255,0,0], [0,255,0], [0,0,255], [128,128,128], [1,2,3], [250,128,7].
  const rgb = Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 128, 128, 128, 1, 2, 3, 250, 128, 7);
  const luma = [76, 150, 29, 128, 2, 151];

  it('a white-repaint mask image is its gray level (Pillow luma for RGB)', () => {
    assert.deepEqual(maskFromImage({ width: 6, height: 1, channels: 3, data: rgb }, 'white'), { width: 6, height: 1, data: Uint8Array.from(luma) });
  });

  it('a black-repaint mask image is inverted, so black pixels become 255 (repaint)', () => {
    const gray = Uint8Array.of(0, 255, 100);
    assert.deepEqual(Array.from(maskFromImage({ width: 3, height: 1, channels: 1, data: gray }, 'black').data), [255, 0, 155]);
  });

  it('an RGBA mask image ignores its alpha channel, as convert("L") does', () => {
    const rgba = Uint8Array.of(255, 0, 0, 0, 0, 255, 0, 255);
    assert.deepEqual(Array.from(maskFromImage({ width: 2, height: 1, channels: 4, data: rgba }, 'white').data), [76, 150]);
  });

  it("an RGBA init image's alpha becomes the mask (transparent = repaint) and its colour channels the image", () => {
    const rgba = Uint8Array.of(10, 20, 30, 0, 40, 50, 60, 255, 70, 80, 90, 128);
    const { image, mask } = maskFromAlpha({ width: 3, height: 1, data: rgba });
    assert.deepEqual(image, { width: 3, height: 1, rgb: Uint8Array.of(10, 20, 30, 40, 50, 60, 70, 80, 90) });
    assert.deepEqual(mask, { width: 3, height: 1, data: Uint8Array.of(255, 0, 127) });
  });

  it('rejects buffers that do not match their size and unknown channel counts or conventions', () => {
    assert.throws(() => maskFromImage({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) }, 'white'), /^EngineError: Cannot build the mask: a 2×2 mask image with 3 channels has 12 bytes, got 11$/);
    assert.throws(() => maskFromAlpha({ width: 2, height: 1, data: new Uint8Array(6) }), (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument');
    // Casts stand for untyped callers (JSON, JavaScript).
    assert.throws(() => maskFromImage({ width: 1, height: 1, channels: 2 as 3, data: new Uint8Array(2) }, 'white'), /channels must be 1, 3 or 4, got 2/);
    assert.throws(() => maskFromImage({ width: 1, height: 1, channels: 1, data: new Uint8Array(1) }, 'grey' as 'white'), /repaint must be 'white' or 'black', got grey/);
  });
});

describe('mask preparation (docs/engine-reference.md §6.5)', () => {
  it('binarises at 0.5 as diffusers: 128 repaints, 127 keeps', () => {
    const { pixels } = prepareMask({ width: 8, height: 8, data: new Uint8Array(64).fill(128) }, 8, 8, 8);
    assert.ok(pixels.every((v) => v === 1));
    assert.ok(prepareMask({ width: 8, height: 8, data: new Uint8Array(64).fill(127) }, 8, 8, 8).pixels.every((v) => v === 0));
  });

  it("samples the latent mask from each block's top-left pixel (torch's nearest interpolation)", () => {
    const data = new Uint8Array(16 * 16);
    data[0] = 255; // top-left pixel of block (0, 0)
    data[8 * 16 + 15] = 255; // bottom-right pixel of block (1, 1): not sampled
    data[8] = 255; // top-left pixel of block (0, 1)
    const { latents, pixels } = prepareMask({ width: 16, height: 16, data }, 16, 16, 8);
    assert.deepEqual(Array.from(latents), [1, 1, 0, 0]);
    assert.equal(pixels[8 * 16 + 15], 1);
  });

  it('resizes the mask with the init image (stretched) before binarising', () => {
    // Left half of a 4×2 mask repaints; at 16×8 the left 8 columns repaint.
    const { pixels, latents } = prepareMask({ width: 4, height: 2, data: Uint8Array.of(255, 255, 0, 0, 255, 255, 0, 0) }, 16, 8, 8);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 16; x++) assert.equal(pixels[y * 16 + x], x < 8 ? 1 : 0, `(${x}, ${y})`);
    assert.deepEqual(Array.from(latents), [1, 0]);
  });

  it('blurs with the given σ before binarising: corners round off, thin lines vanish, straight edges stay', () => {
    const size = 32;
    const square = new Uint8Array(size * size);
    for (let y = 8; y < 24; y++) for (let x = 8; x < 24; x++) square[y * size + x] = 255;
    const sharp = prepareMask({ width: size, height: size, data: square }, size, size, 8).pixels;
    const blurred = prepareMask({ width: size, height: size, data: square }, size, size, 8, 4).pixels;
    assert.equal(sharp[8 * size + 8], 1, 'corner pixel repainted without blur');
    assert.equal(blurred[8 * size + 8], 0, 'corner pixel rounded off with blur 4');
    assert.equal(blurred[16 * size + 8], 1, 'the middle of an edge stays (the pixel and half its neighbourhood are covered)');
    assert.equal(blurred[16 * size + 7], 0, 'just outside the edge stays kept');
    const line = new Uint8Array(size * size);
    for (let y = 0; y < size; y++) line[y * size + 16] = 255;
    assert.ok(prepareMask({ width: size, height: size, data: line }, size, size, 8, 2).pixels.every((v) => v === 0));
  });

  it('the blur kernel is a normalised Gaussian out to ⌊2.5σ + 0.5⌋ taps with extended edges', () => {
    const impulse = new Float64Array(21);
    impulse[10] = 1;
    const row = gaussianBlur(impulse, 21, 1, 2);
    // σ = 2: radius 5, weights exp(−k²/8) / Σ.
    const total = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / 8)).reduce((a, b) => a + b);
    assert.ok(Math.abs(row[10] - 1 / total) < 1e-15);
    assert.ok(Math.abs(row[15] - Math.exp(-25 / 8) / total) < 1e-15);
    assert.equal(row[16], 0);
    assert.ok(Math.abs(row.reduce((a, b) => a + b) - 1) < 1e-12);
    const edge = gaussianBlur(new Float64Array(9).fill(255), 3, 3, 1.5);
    assert.ok(edge.every((v) => Math.abs(v - 255) < 1e-9), 'a constant image stays constant at the edges');
  });
});
