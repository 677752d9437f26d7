import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../../src/engine/errors.ts';
import { inspectModel, planSize } from '../../src/engine/index.ts';
import { tiny } from './pipeline-helpers.ts';

// SD 1.5 (512 native, 4 UNet down blocks: 64 px) and SDXL (1024 native, 3 down blocks: 32 px).
const sd15 = { nativeWidth: 512, nativeHeight: 512, latentMultiple: 64 };
const sdxl = { nativeWidth: 1024, nativeHeight: 1024, latentMultiple: 32 };

const isInvalid = (pattern: RegExp) => (err: unknown) => err instanceof EngineError && err.code === 'invalid_argument' && pattern.test(err.message);

test('without upscale a size is generated as requested, and must be a multiple of the latent multiple', () => {
  assert.deepEqual(planSize(sd15, { width: 512, height: 768 }, { upscale: false }), { width: 512, height: 768, targetWidth: 512, targetHeight: 768, resize: false });
  assert.deepEqual(planSize(sdxl, { width: 1056, height: 992 }, { upscale: false }), { width: 1056, height: 992, targetWidth: 1056, targetHeight: 992, resize: false });
  // 1056 and 992 are multiples of 32 but not of 64: fine for SDXL, not for SD 1.5.
  assert.throws(() => planSize(sd15, { width: 1056, height: 992 }, { upscale: false }), isInvalid(/multiples of 64 for this model, got 1056×992/));
  assert.throws(() => planSize(sdxl, { width: 1000, height: 1024 }, { upscale: false }), isInvalid(/multiples of 32 .* got 1000×1024/));
  assert.throws(() => planSize(sd15, { width: 0, height: 512 }, { upscale: true }), isInvalid(/width must be a positive integer, got 0/));
  assert.throws(() => planSize(sd15, { width: 512, height: 51.2 }, { upscale: false }), isInvalid(/height must be a positive integer, got 51.2/));
});

test('with upscale the model works at its native area in the requested aspect ratio, sides rounded to the latent multiple', () => {
  // 1536×640 (2.4:1) at 512² area: √(262144·2.4) = 793.2 → 768, √(262144/2.4) = 330.5 → 320.
  assert.deepEqual(planSize(sd15, { width: 1536, height: 640 }, { upscale: true }), { width: 768, height: 320, targetWidth: 1536, targetHeight: 640, resize: true });
  assert.deepEqual(planSize(sd15, { width: 640, height: 1536 }, { upscale: true }), { width: 320, height: 768, targetWidth: 640, targetHeight: 1536, resize: true });
  assert.deepEqual(planSize(sd15, { width: 1024, height: 1024 }, { upscale: true }), { width: 512, height: 512, targetWidth: 1024, targetHeight: 1024, resize: true });
  // 768×512: √(262144·1.5) = 627.1 → 640, √(262144/1.5) = 418.0 → 448.
  assert.deepEqual(planSize(sd15, { width: 768, height: 512 }, { upscale: true }), { width: 640, height: 448, targetWidth: 768, targetHeight: 512, resize: true });
  // SDXL at 1024² area: 1536×640 → 1586.4 → 1600, 661.0 → 672; 896×1152 is already native-area, nothing to resize.
  assert.deepEqual(planSize(sdxl, { width: 1536, height: 640 }, { upscale: true }), { width: 1600, height: 672, targetWidth: 1536, targetHeight: 640, resize: true });
  assert.deepEqual(planSize(sdxl, { width: 896, height: 1152 }, { upscale: true }), { width: 896, height: 1152, targetWidth: 896, targetHeight: 1152, resize: false });
  // A smaller request is generated at native area too, and resized down by the caller.
  assert.deepEqual(planSize(sdxl, { width: 512, height: 512 }, { upscale: true }), { width: 1024, height: 1024, targetWidth: 512, targetHeight: 512, resize: true });
});

test('planSize works on tiny model manifests (64 px native, 8 px multiple)', async () => {
  const sd1 = await inspectModel(tiny('sd1'));
  assert.deepEqual(planSize(sd1, { width: 1536, height: 640 }, { upscale: true }), { width: 96, height: 40, targetWidth: 1536, targetHeight: 640, resize: true });
  assert.deepEqual(planSize(sd1, { width: 1152, height: 896 }, { upscale: true }), { width: 72, height: 56, targetWidth: 1152, targetHeight: 896, resize: true });
  assert.deepEqual(planSize(sd1, { width: 40, height: 32 }, { upscale: false }), { width: 40, height: 32, targetWidth: 40, targetHeight: 32, resize: false });
  const sdxl = await inspectModel(tiny('sdxl'));
  assert.deepEqual(planSize(sdxl, { width: 1024, height: 1024 }, { upscale: true }), { width: 128, height: 128, targetWidth: 1024, targetHeight: 1024, resize: true });
});
