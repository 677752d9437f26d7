/**
 * `sdapi generate` and `sdapi tokenize`: the engine library from the command line, without the server. The engine
 * (and onnxruntime-node, slow to load) is imported only when one of these runs, through its public index.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { Command } from 'commander';
import type { GeneratedImage, SamplerName } from '../../engine/index.ts';
import type { CliContext } from '../cli-context.ts';
import { UsageError } from '../cli-error.ts';
import { finiteNumber, integerIn, multipleOf8, oneOf } from '../options.ts';
import { ProgressBar } from '../progress-bar.ts';

interface GenerateOptions {
  model: string;
  prompt: string;
  negative?: string;
  steps?: number;
  cfg?: number;
  sampler?: string;
  seed?: number;
  width?: number;
  height?: number;
  images: number;
  style?: string;
  output?: string;
  device?: 'cpu' | 'cuda';
}

/** out.png for one image; out-0.png, out-1.png … for several. */
export function outputPaths(output: string | undefined, images: GeneratedImage[]): string[] {
  if (output === undefined) return images.map((image) => `sdapi-${image.seed}.png`);
  if (images.length === 1) return [output];
  const ext = extname(output) || '.png';
  const stem = extname(output) ? output.slice(0, -ext.length) : output;
  return images.map((_, i) => `${stem}-${i}${ext}`);
}

export function generateCommand(ctx: CliContext): Command {
  return new Command('generate')
    .description('generate images with a model folder, without the server')
    .requiredOption('--model <dir>', 'a diffusers/optimum ONNX model folder')
    .requiredOption('--prompt <text>', 'what to draw')
    .option('--negative <text>', 'what to avoid')
    .option('--steps <n>', "denoising steps (default: the model's)", integerIn(1, 1000))
    .option('--cfg <scale>', "guidance scale (default: the model's)", finiteNumber)
    .option('--sampler <name>', "scheduler, e.g. euler, ddim (default: the model's)")
    .option('--seed <n>', 'seed; 0 or absent: random (printed on stderr)', integerIn(0, 0xffffffff))
    .option('--width <px>', "multiple of 8 (default: the model's native size)", multipleOf8(8, 4096))
    .option('--height <px>', "multiple of 8 (default: the model's native size)", multipleOf8(8, 4096))
    .option('--images <n>', 'images to generate', integerIn(1, 64), 1)
    .option('--style <name>', 'a style preset, e.g. neon-punk')
    .option('--output <path>', 'PNG path (several images: path-0.png, path-1.png …; default sdapi-<seed>.png)')
    .option('--device <device>', 'cpu or cuda', oneOf(['cpu', 'cuda'] as const))
    .action(async (options: GenerateOptions) => {
      const engine = await import('../../engine/index.ts');
      const sampler = options.sampler === undefined ? undefined : engine.SAMPLER_NAMES.find((s): s is SamplerName => s === options.sampler);
      if (options.sampler !== undefined && sampler === undefined) {
        throw new UsageError(`unknown sampler "${options.sampler}" (known: ${engine.SAMPLER_NAMES.join(', ')})`);
      }
      const pipeline = await engine.loadModel(options.model, { device: options.device, logger: (message) => ctx.io.err(`sdapi generate: ${message}`) });
      const bar = new ProgressBar(ctx.io, 'sdapi generate:');
      try {
        const prompts = [{ text: options.prompt, weight: 1 }];
        if (options.negative !== undefined) prompts.push({ text: options.negative, weight: -1 });
        const { images: result } = await pipeline.generate({
          prompts,
          width: options.width ?? pipeline.info.nativeWidth,
          height: options.height ?? pipeline.info.nativeHeight,
          steps: options.steps ?? pipeline.info.defaultSteps,
          cfgScale: options.cfg ?? pipeline.info.defaultCfg,
          sampler,
          seed: options.seed,
          images: options.images,
          style: options.style,
          onProgress: (p) => bar.update(p),
        });
        bar.finish();
        if (!options.seed) ctx.io.err(`sdapi generate: seed ${result[0].seed}`);
        const paths = outputPaths(options.output, result);
        for (let i = 0; i < result.length; i++) {
          await writePng(paths[i], result[i]);
          ctx.io.out(paths[i]);
        }
      } finally {
        bar.finish();
        await pipeline.dispose();
      }
    });
}

export function tokenizeCommand(ctx: CliContext): Command {
  return new Command('tokenize')
    .description("print the CLIP token ids of TEXT with the model's first tokenizer (SDXL: tokenizer/, the CLIP-L one)")
    .requiredOption('--model <dir>', 'a diffusers/optimum ONNX model folder')
    .argument('<text...>', 'the text to tokenize')
    .action(async (words: string[], options: { model: string }) => {
      const engine = await import('../../engine/index.ts');
      if (!isDirectory(options.model)) throw new engine.EngineError('model_not_found', `Model folder not found: ${options.model}`);
      const tokenizerDir = join(options.model, 'tokenizer');
      if (!isDirectory(tokenizerDir)) throw new engine.EngineError('model_invalid', `Model folder ${options.model} is incomplete: tokenizer/ is missing`);
      let tokenizer;
      try {
        tokenizer = await engine.ClipTokenizer.fromDirectory(tokenizerDir);
      } catch (err) {
        if (err instanceof engine.EngineError) throw err;
        throw new engine.EngineError('model_invalid', `Cannot read the tokenizer in ${tokenizerDir}: ${err instanceof Error ? err.message : String(err)}`);
      }
      ctx.io.out(JSON.stringify(tokenizer.encode(words.join(' '))));
    });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function writePng(path: string, image: GeneratedImage): Promise<void> {
  const { default: sharp } = await import('sharp');
  mkdirSync(dirname(path), { recursive: true });
  const raw = Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength);
  await sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(path);
}
