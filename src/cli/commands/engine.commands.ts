/**
 * `sdapi generate` and `sdapi tokenize`: the engine library from the command line, without the server. The engine
 * (and onnxruntime-node, slow to load) is imported only when one of these runs, through its public index. Sizes are
 * planned as the service plans them (the engine's planSize()).
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { Command } from 'commander';
import type { GeneratedImage, InitImage, SamplerName } from '../../engine/index.ts';
import type { DeviceName } from '../../domain/devices.ts';
import { loadConfig } from '../../config/load-config.ts';
import type { Engine } from '../../services/generation/engine-registry.ts';
import type { CliContext } from '../cli-context.ts';
import { UsageError } from '../cli-error.ts';
import { IMAGE_STRENGTH_DEFAULT, parseResolution } from '../../domain/generation-request.ts';
import { nearestResolution } from '../../services/entries/request-check.ts';
import { deviceName, finiteNumber, integerIn, numberIn, oneOf } from '../options.ts';
import { ProgressBar } from '../progress-bar.ts';

interface GenerateOptions {
  model?: string;
  engines?: string;
  engine?: string;
  native?: boolean;
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
  device?: DeviceName;
  initImage?: string;
  strength?: number;
  mask?: string;
  maskSource?: MaskSourceOption;
  maskBlur?: number;
}

const MASK_SOURCES = { white: 'MASK_IMAGE_WHITE', black: 'MASK_IMAGE_BLACK', alpha: 'INIT_IMAGE_ALPHA' } as const;
type MaskSourceOption = keyof typeof MASK_SOURCES;


/** The init image (and mask) files, checked as the API checks uploads, as the engine's InitImage; its size. */
async function readInitFiles(options: GenerateOptions): Promise<{ init: InitImage; width: number; height: number } | undefined> {
  if (options.initImage === undefined) {
    for (const flag of ['strength', 'mask', 'maskSource', 'maskBlur'] as const) {
      if (options[flag] !== undefined) throw new UsageError(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --init-image`);
    }
    return undefined;
  }
  const { decodeInputImage, InputImageError } = await import('../../services/entries/input-images.ts');
  const { initFromPngs } = await import('../../services/generation/image-producer.ts');
  const source = options.maskSource ?? (options.mask !== undefined ? 'white' : undefined);
  if (source === 'alpha' && options.mask !== undefined) throw new UsageError('--mask-source alpha takes the mask from the init image’s transparency: leave out --mask');
  if ((source === 'white' || source === 'black') && options.mask === undefined) throw new UsageError(`--mask-source ${source} needs --mask <file>`);
  const read = async (flag: string, path: string, keepAlpha: boolean) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new UsageError(`${flag}: cannot read ${path}`);
    }
    try {
      return await decodeInputImage(bytes, { keepAlpha });
    } catch (err) {
      if (err instanceof InputImageError) throw new UsageError(`${flag} ${path}: ${err.message}`);
      throw err;
    }
  };
  const image = await read('--init-image', options.initImage, source === 'alpha');
  if (source === 'alpha' && !image.hasAlpha) throw new UsageError(`--mask-source alpha: ${options.initImage} has no alpha channel`);
  const mask = options.mask === undefined ? undefined : await read('--mask', options.mask, false);
  const init = await initFromPngs(image.png, mask?.png, { strength: options.strength ?? 1 - IMAGE_STRENGTH_DEFAULT, maskSource: source && MASK_SOURCES[source], maskBlur: options.maskBlur });
  return { init, width: image.width, height: image.height };
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
    .description('generate images with a model folder (or a registry engine), without the server')
    .option('--model <dir>', 'a diffusers/optimum ONNX model folder')
    .option('--engines <file>', 'an engine registry, with --engine: use that engine’s model, defaults and sizing')
    .option('--engine <id>', 'the engine (id or alias) of --engines to use instead of --model')
    .requiredOption('--prompt <text>', 'what to draw')
    .option('--negative <text>', 'what to avoid')
    .option('--steps <n>', "denoising steps (default: the engine's or model's)", integerIn(1, 1000))
    .option('--cfg <scale>', "guidance scale (default: the engine's or model's)", finiteNumber)
    .option('--sampler <name>', "scheduler, e.g. euler, ddim (default: the engine's or model's)")
    .option('--seed <n>', 'seed; 0 or absent: random (printed on stderr)', integerIn(0, 0xffffffff))
    .option('--width <px>', "output width (default: the engine's first size, or the model's native width)", integerIn(8, 8192))
    .option('--height <px>', "output height (default: the engine's first size, or the model's native height)", integerIn(8, 8192))
    .option('--native', "generate exactly --width × --height (each a multiple of the model's latent multiple) instead of generating at the model's native area and resizing")
    .option('--images <n>', 'images to generate', integerIn(1, 64), 1)
    .option('--style <name>', 'a style preset, e.g. neon-punk')
    .option('--output <path>', 'PNG path (several images: path-0.png, path-1.png …; default sdapi-<seed>.png)')
    .option('--device <device>', 'cpu, cuda or cuda:N (default: the engine’s, else cpu)', deviceName)
    .option('--init-image <file>', 'image-to-image: start from this PNG, JPEG or WebP (default size: the image’s, or the engine’s closest resolution)')
    .option('--strength <s>', "with --init-image: diffusers' strength in [0, 1], how much is repainted (1 − the API's image_strength; default 0.65)", numberIn(0, 1))
    .option('--mask <file>', 'inpainting: the mask image (white is repainted unless --mask-source black)')
    .option('--mask-source <source>', 'inpainting: white, black (which pixels of --mask are repainted) or alpha (the transparent pixels of --init-image)', oneOf(Object.keys(MASK_SOURCES) as MaskSourceOption[]))
    .option('--mask-blur <px>', 'inpainting: Gaussian blur σ in pixels before the mask is binarised (0–64)', numberIn(0, 64))
    .action(async (options: GenerateOptions) => {
      const selected = await selectModel(ctx, options);
      const initInput = await readInitFiles(options);
      const engine = await import('../../engine/index.ts');
      const sampler = options.sampler === undefined ? selected.engine?.defaultSampler : engine.SAMPLER_NAMES.find((s): s is SamplerName => s === options.sampler);
      if (options.sampler !== undefined && sampler === undefined) {
        throw new UsageError(`unknown sampler "${options.sampler}" (known: ${engine.SAMPLER_NAMES.join(', ')})`);
      }
      const pipeline = await engine.loadModel(selected.dir, {
        device: options.device ?? selected.engine?.device,
        family: selected.engine?.model.family,
        logger: (message) => ctx.io.err(`sdapi generate: ${message}`),
      });
      const bar = new ProgressBar(ctx.io, 'sdapi generate:');
      try {
        const info = pipeline.info;
        const first = selected.engine?.resolutions[0]?.split('x').map(Number);
        // An init image without --width/--height: the engine's closest resolution, else the image's own size.
        const fromInit = initInput && (selected.engine ? parseResolution(nearestResolution(selected.engine.resolutions, initInput)) : initInput);
        const target = {
          width: options.width ?? fromInit?.width ?? first?.[0] ?? info.nativeWidth,
          height: options.height ?? fromInit?.height ?? first?.[1] ?? info.nativeHeight,
        };
        // As the service plans: an upscaling engine (or a bare model, unless --native) generates at the native area.
        const upscale = options.native ? false : (selected.engine?.upscale ?? true);
        const plan = engine.planSize(info, target, { upscale });
        if (plan.resize) ctx.io.err(`sdapi generate: generating ${plan.width}x${plan.height} (the model's native area) and resizing to ${target.width}x${target.height}; --native generates that size directly`);
        const prompts = [{ text: options.prompt, weight: 1 }];
        if (options.negative !== undefined) prompts.push({ text: options.negative, weight: -1 });
        const { images: result } = await pipeline.generate({
          prompts,
          width: plan.width,
          height: plan.height,
          steps: options.steps ?? selected.engine?.steps.default ?? info.defaultSteps,
          cfgScale: options.cfg ?? selected.engine?.cfg.default ?? info.defaultCfg,
          sampler,
          seed: options.seed,
          images: options.images,
          style: options.style,
          init: initInput?.init,
          onProgress: (p) => bar.update(p),
        });
        bar.finish();
        if (!options.seed) ctx.io.err(`sdapi generate: seed ${result[0].seed}`);
        const paths = outputPaths(options.output, result);
        for (let i = 0; i < result.length; i++) {
          await writePng(paths[i], result[i], target);
          ctx.io.out(paths[i]);
        }
      } finally {
        bar.finish();
        await pipeline.dispose();
      }
    });
}

/** --model DIR, or --engines FILE --engine ID (that engine's model, defaults and sizing). */
async function selectModel(ctx: CliContext, options: GenerateOptions): Promise<{ dir: string; engine?: Engine }> {
  if (options.model !== undefined) {
    if (options.engines !== undefined || options.engine !== undefined) throw new UsageError('give either --model or --engines with --engine, not both');
    return { dir: options.model };
  }
  if (options.engine === undefined) throw new UsageError('--model <dir> is required (or --engines <file> --engine <id>)');
  const config = loadConfig(ctx.env);
  const file = options.engines ?? config.enginesFile;
  if (file === undefined) throw new UsageError('--engine needs a registry: --engines <file> or SDAPI_ENGINES');
  const { loadEngines } = await import('../../services/generation/engine-registry.ts');
  const engines = await loadEngines({ file, defaultModelDir: config.defaultModelDir, demo: false, device: config.device });
  const found = engines.find((e) => e.id === options.engine || e.aliases.includes(options.engine ?? ''));
  if (!found) throw new UsageError(`no engine "${options.engine}" in ${file} (engines: ${engines.map((e) => e.id).join(', ')})`);
  return { dir: found.model.dir, engine: found };
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

/** Writes the image as a PNG of exactly `target` (resized with Lanczos, as the service does, when it differs). */
async function writePng(path: string, image: GeneratedImage, target: { width: number; height: number }): Promise<void> {
  const { default: sharp } = await import('sharp');
  mkdirSync(dirname(path), { recursive: true });
  const raw = Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength);
  let png = sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } });
  if (image.width !== target.width || image.height !== target.height) png = png.resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' });
  await png.png().toFile(path);
}
