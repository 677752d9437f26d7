/**
 * `sdapi generate` and `sdapi tokenize`: the engine from the command line. Bad input prints one line on stderr
 * and returns exit code 2 (never a stack trace); an engine failure while running returns 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { mkdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { EngineError } from '../engine/errors.ts';
import type { GeneratedImage } from '../engine/types.ts';
import { SAMPLER_NAMES, type SamplerName } from '../engine/schedulers/types.ts';
import { ClipTokenizer } from '../engine/tokenizer/clip-tokenizer.ts';
import { isDirectory } from '../engine/model/files.ts';
// onnxruntime-node and sharp are imported on use: they are slow to load and most CLI runs never need them.

const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

/** A user mistake: reported as one line, exit code 2. */
class UsageError extends Error {}

const GENERATE_USAGE =
  'usage: sdapi generate --model DIR --prompt TEXT [--negative TEXT] [--steps N] [--cfg F] [--sampler NAME] ' +
  '[--seed N] [--width W --height H] [--images N] [--style NAME] [--output PATH] [--device cpu|cuda]';
const TOKENIZE_USAGE = 'usage: sdapi tokenize --model DIR TEXT';

interface ParsedArgs {
  values: Record<string, string | undefined>;
  positionals: string[];
}

/** Every option of these commands takes a string value, which keeps the parsed type simple. */
function parse(argv: string[], names: readonly string[], allowPositionals: boolean): ParsedArgs {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const name of names) options[name] = { type: 'string' };
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as Record<string, string | undefined>, positionals };
  } catch (err) {
    // parseArgs messages are one line and name the offending flag ("Unknown option '--foo'...").
    throw new UsageError(err instanceof Error ? err.message.split('\n')[0] : String(err));
  }
}

function integer(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return n;
}

function decimal(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

function multipleOf8(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && value % 8 !== 0) throw new UsageError(`--${name} must be a multiple of 8, got ${value}`);
  return value;
}

/** out.png for one image; out-0.png, out-1.png … for several. */
export function outputPaths(output: string | undefined, images: GeneratedImage[]): string[] {
  if (output === undefined) return images.map((image) => `sdapi-${image.seed}.png`);
  if (images.length === 1) return [output];
  const ext = extname(output) || '.png';
  const stem = extname(output) ? output.slice(0, -ext.length) : output;
  return images.map((_, i) => `${stem}-${i}${ext}`);
}

async function writePng(path: string, image: GeneratedImage): Promise<void> {
  const { default: sharp } = await import('sharp');
  mkdirSync(dirname(path), { recursive: true });
  const raw = Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength);
  await sharp(raw, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(path);
}

async function runCommand(command: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sdapi ${command}: ${err.message} (${usage})\n`);
      return EXIT_USAGE;
    }
    if (err instanceof EngineError) {
      process.stderr.write(`sdapi ${command}: ${err.message}\n`);
      // Everything but a failure while running is the caller's input (a wrong folder, option or value).
      return err.code === 'runtime_error' ? EXIT_FAILURE : EXIT_USAGE;
    }
    process.stderr.write(`sdapi ${command}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    return EXIT_FAILURE;
  }
}

export function runGenerate(argv: string[]): Promise<number> {
  return runCommand('generate', GENERATE_USAGE, async () => {
    const { values } = parse(
      argv,
      ['model', 'prompt', 'negative', 'steps', 'cfg', 'sampler', 'seed', 'width', 'height', 'images', 'style', 'output', 'device'],
      false,
    );
    if (values.model === undefined) throw new UsageError('--model is required');
    if (values.prompt === undefined) throw new UsageError('--prompt is required');
    const model = values.model;
    const steps = integer('steps', values.steps, 1, 1000);
    const cfg = decimal('cfg', values.cfg);
    // Absent or 0: the engine draws a random seed and reports it (printed on stderr below).
    const seed = integer('seed', values.seed, 0, 0xffffffff);
    const width = multipleOf8('width', integer('width', values.width, 8, 4096));
    const height = multipleOf8('height', integer('height', values.height, 8, 4096));
    const images = integer('images', values.images, 1, 64) ?? 1;
    const sampler = values.sampler;
    if (sampler !== undefined && !(SAMPLER_NAMES as readonly string[]).includes(sampler)) {
      throw new UsageError(`unknown sampler "${sampler}" (known: ${SAMPLER_NAMES.join(', ')})`);
    }
    const device = values.device;
    if (device !== undefined && device !== 'cpu' && device !== 'cuda') {
      throw new UsageError(`--device must be cpu or cuda, got "${device}"`);
    }

    const { loadModel } = await import('../engine/index.ts');
    const pipeline = await loadModel(model, {
      device: device as 'cpu' | 'cuda' | undefined,
      logger: (message) => process.stderr.write(`sdapi generate: ${message}\n`),
    });
    try {
      const prompts = [{ text: values.prompt, weight: 1 }];
      if (values.negative !== undefined) prompts.push({ text: values.negative, weight: -1 });
      const { images: result } = await pipeline.generate({
        prompts,
        width: width ?? pipeline.info.nativeWidth,
        height: height ?? pipeline.info.nativeHeight,
        steps: steps ?? pipeline.info.defaultSteps,
        cfgScale: cfg ?? pipeline.info.defaultCfg,
        sampler: sampler as SamplerName | undefined,
        seed,
        images,
        style: values.style,
      });
      if (!seed) process.stderr.write(`sdapi generate: seed ${result[0].seed}\n`);
      const paths = outputPaths(values.output, result);
      for (let i = 0; i < result.length; i++) {
        await writePng(paths[i], result[i]);
        process.stdout.write(`${paths[i]}\n`);
      }
      return 0;
    } finally {
      await pipeline.dispose();
    }
  });
}

/** Prints the token ids of the model's first tokenizer (for SDXL: `tokenizer/`, the CLIP-L one). */
export function runTokenize(argv: string[]): Promise<number> {
  return runCommand('tokenize', TOKENIZE_USAGE, async () => {
    const { values, positionals } = parse(argv, ['model'], true);
    if (values.model === undefined) throw new UsageError('--model is required');
    if (positionals.length === 0) throw new UsageError('the text to tokenize is missing');
    const model = values.model;
    if (!isDirectory(model)) throw new EngineError('model_not_found', `Model folder not found: ${model}`);
    const tokenizerDir = join(model, 'tokenizer');
    if (!isDirectory(tokenizerDir)) throw new EngineError('model_invalid', `Model folder ${model} is incomplete: tokenizer/ is missing`);
    let tokenizer: ClipTokenizer;
    try {
      tokenizer = await ClipTokenizer.fromDirectory(tokenizerDir);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw new EngineError('model_invalid', `Cannot read the tokenizer in ${tokenizerDir}: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.stdout.write(`${JSON.stringify(tokenizer.encode(positionals.join(' ')))}\n`);
    return 0;
  });
}
