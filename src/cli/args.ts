/** Minimal `--name value` / `--flag` parsing for the CLI. */
import { AppError } from '../services/errors.ts';

export function parseFlags(argv: string[], known: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new AppError('validation_failed', `Unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (!known.includes(name)) throw new AppError('validation_failed', `Unknown option --${name} (expected: ${known.map((k) => `--${k}`).join(', ')})`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new AppError('validation_failed', `Option --${name} needs a value`);
    out[name] = value;
  }
  return out;
}

export function required(flags: Record<string, string>, name: string): string {
  const value = flags[name];
  if (value === undefined || value === '') throw new AppError('validation_failed', `Missing required option --${name}`);
  return value;
}
