/**
 * Engine overhead bench: wall time of the whole pipeline (prompt -> PNG bytes) divided by the sum of the raw
 * ONNX Runtime session.run() times for the same work, at 20 steps, plus each stage's share of the wall time.
 * Goal: <= 1.03 (the JS side adds at most 3 % to what ONNX Runtime itself spends).
 *
 *   npm run bench:engine                     tiny sd1 model + a mid-size model generated into a temp dir
 *   npm run bench:engine -- --tiny           tiny model only (no Python needed)
 *   npm run bench:engine -- --device cuda    on the CUDA execution provider (scripts/gpu-check.sh)
 *
 * It also measures previews: the same generation with a preview after every step (linear projection), reported
 * as ms per preview and as a share of the wall time, the inspectModel() time (files only, no sessions), and
 * image-to-image from an init image twice the generation size (resize, encode, 60 % of the steps).
 *
 * The mid-size model (sd1 layout, 128/256-channel UNet, 256x256 images: >= 50 ms per UNet call on 2 cores) is
 * built at bench time by scripts/tiny-models/make_tiny_models.py --midsize, so it is never committed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { inspectModel, loadModel, parseDevice, type Device, type GenerateOptions, type StableDiffusionPipeline, type StageTimings } from '../src/engine/index.ts';

const root = join(import.meta.dirname, '..');
const STEPS = 20;
const deviceArg = process.argv.indexOf('--device');
const device = (deviceArg > 0 ? process.argv[deviceArg + 1] : 'cpu') as Device;
parseDevice(device); // fails early on a typo

interface Case {
  name: string;
  dir: string;
  size: number;
  runs: number;
}

function totalRunMs(pipeline: StableDiffusionPipeline): number {
  return pipeline.loaded.sessions().reduce((a, s) => a + s.stats.runMs, 0);
}

function unetRunMs(pipeline: StableDiffusionPipeline): { ms: number; runs: number } {
  const s = pipeline.loaded.unet.session.stats;
  return { ms: s.runMs, runs: s.runs };
}

async function toPng(pipeline: StableDiffusionPipeline, options: GenerateOptions): Promise<{ bytes: number; pngMs: number; timings: StageTimings }> {
  const { images, timings } = await pipeline.generate(options);
  const start = performance.now();
  let bytes = 0;
  for (const image of images) {
    const png = await sharp(Buffer.from(image.rgb.buffer), { raw: { width: image.width, height: image.height, channels: 3 } })
      .png()
      .toBuffer();
    bytes += png.length;
  }
  return { bytes, pngMs: performance.now() - start, timings };
}

const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1).padStart(5)} %`;

async function bench(c: Case): Promise<void> {
  let start = performance.now();
  const manifest = await inspectModel(c.dir);
  const inspectMs = performance.now() - start;
  // strictDevice: a GPU run must not quietly measure the CPU fallback.
  const pipeline = await loadModel(c.dir, { device, strictDevice: device !== 'cpu', logger: (m) => console.log(`  (${m})`) });
  try {
    const options: GenerateOptions = {
      prompts: [{ text: 'a photograph of an astronaut riding a horse', weight: 1 }],
      width: c.size,
      height: c.size,
      steps: STEPS,
      cfgScale: 7.5,
      seed: 42,
      images: 1,
    };
    await toPng(pipeline, options); // warm-up: ORT arena growth, first-run kernel setup
    const totals = { wall: 0, run: 0, text: 0, unet: 0, loop: 0, vae: 0, png: 0 };
    const unetBefore = unetRunMs(pipeline);
    for (let i = 0; i < c.runs; i++) {
      const runBefore = totalRunMs(pipeline);
      start = performance.now();
      const { pngMs, timings: t } = await toPng(pipeline, { ...options, seed: 42 + i });
      totals.wall += performance.now() - start;
      totals.run += totalRunMs(pipeline) - runBefore;
      totals.text += t.textMs;
      totals.unet += t.unetMs;
      totals.loop += t.loopOtherMs;
      totals.vae += t.vaeMs;
      totals.png += pngMs;
    }
    const unetAfter = unetRunMs(pipeline);
    const perCall = (unetAfter.ms - unetBefore.ms) / (unetAfter.runs - unetBefore.runs);
    const other = totals.wall - totals.text - totals.unet - totals.loop - totals.vae - totals.png;
    // Previews after every step: what they add to the same generation.
    let previews = 0;
    let previewMs = 0;
    let previewWall = 0;
    for (let i = 0; i < c.runs; i++) {
      start = performance.now();
      const { timings } = await pipeline.generate({ ...options, seed: 42 + i, preview: { intervalMs: 0, onPreview: () => previews++ } });
      previewWall += performance.now() - start;
      previewMs += timings.previewMs;
    }
    console.log(`\n${c.name}: ${c.size}x${c.size}, ${STEPS} steps (PNDM, CFG 7.5 -> batch-2 UNet), ${c.runs} run(s) after 1 warm-up, device ${pipeline.device}`);
    console.log(`  inspectModel (no sessions) ${inspectMs.toFixed(1)} ms   (${manifest.components.length} ONNX files, ${(manifest.sizeBytes / 1024).toFixed(0)} KiB)`);
    console.log(`  wall per image            ${(totals.wall / c.runs).toFixed(1)} ms`);
    console.log(`  sum of session.run        ${(totals.run / c.runs).toFixed(1)} ms   (UNet ${perCall.toFixed(2)} ms per call)`);
    console.log(`  overhead ratio            ${(totals.wall / totals.run).toFixed(4)}   (goal <= 1.03)`);
    // The engine's own overhead, without sharp's PNG encoding (a fixed few ms per image, large next to a tiny model).
    console.log(`  ratio without PNG encode  ${((totals.wall - totals.png) / totals.run).toFixed(4)}`);
    console.log(`  shares of wall time:`);
    console.log(`    text encoding           ${pct(totals.text, totals.wall)}`);
    console.log(`    UNet (incl. feeds)      ${pct(totals.unet, totals.wall)}`);
    console.log(`    scheduler / JS          ${pct(totals.loop, totals.wall)}`);
    console.log(`    VAE decode + postproc   ${pct(totals.vae, totals.wall)}`);
    console.log(`    PNG encode              ${pct(totals.png, totals.wall)}`);
    console.log(`    other                   ${pct(other, totals.wall)}`);
    console.log(`  previews (every step)     ${(previewMs / previews).toFixed(3)} ms each, ${pct(previewMs, previewWall)} of wall time (${previews} previews)`);
    // Image-to-image from an init image twice the size (Lanczos resize + VAE encode) at strength 0.6.
    const side = 2 * c.size;
    const rgb = Uint8Array.from({ length: side * side * 3 }, (_, i) => (i * 2654435761) >>> 24);
    const img2img = { ...options, init: { image: { width: side, height: side, rgb }, strength: 0.6 } };
    await pipeline.generate(img2img); // warm-up: the encoder session opens on first use
    let img2imgWall = 0;
    let img2imgRun = 0;
    let img2imgVae = 0;
    for (let i = 0; i < c.runs; i++) {
      const runBefore = totalRunMs(pipeline);
      start = performance.now();
      const { timings } = await pipeline.generate({ ...img2img, seed: 42 + i });
      img2imgWall += performance.now() - start;
      img2imgRun += totalRunMs(pipeline) - runBefore;
      img2imgVae += timings.vaeMs;
    }
    console.log(
      `  image-to-image (${side}² init, 0.6) ${(img2imgWall / c.runs).toFixed(1)} ms per image, overhead ratio ${(img2imgWall / img2imgRun).toFixed(4)}, resize + encode + decode ${pct(img2imgVae, img2imgWall)}`,
    );
  } finally {
    await pipeline.dispose();
  }
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`engine bench: ${os.availableParallelism()} cores (${cpu}), Node ${process.version}`);
await bench({ name: 'tiny sd1 (models/tiny/sd1)', dir: join(root, 'models', 'tiny', 'sd1'), size: 64, runs: 10 });

if (!process.argv.includes('--tiny')) {
  const tmp = mkdtempSync(join(os.tmpdir(), 'sdapi-bench-'));
  try {
    const dir = join(tmp, 'midsize');
    const made = spawnSync('/usr/bin/python3', [join(root, 'scripts', 'tiny-models', 'make_tiny_models.py'), '--midsize', dir], {
      encoding: 'utf8',
    });
    if (made.status !== 0) {
      console.log(`\nmid-size model skipped: make_tiny_models.py --midsize failed (needs /usr/bin/python3 with torch + onnx)\n${made.stderr.slice(-500)}`);
    } else {
      await bench({ name: 'mid-size sd1 (generated)', dir, size: 256, runs: 2 });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
