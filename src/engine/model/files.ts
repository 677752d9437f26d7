/** Small file helpers for the loader: every failure names the file and says what is wrong. */
import { readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { EngineError } from '../errors.ts';

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Path relative to the model folder, for messages ("unet/model.onnx"). */
export function describePath(modelDir: string, path: string): string {
  return relative(modelDir, path) || path;
}

export function requireFile(modelDir: string, ...parts: string[]): string {
  const path = join(modelDir, ...parts);
  if (!isFile(path)) {
    throw new EngineError('model_invalid', `Model folder ${modelDir} is incomplete: ${parts.join('/')} is missing`);
  }
  return path;
}

/** Reads a JSON object; `required: false` returns undefined for a missing file (a malformed one always fails). */
export function readJsonObject(modelDir: string, parts: string[], required: boolean): Record<string, unknown> | undefined {
  const path = join(modelDir, ...parts);
  if (!isFile(path)) {
    if (!required) return undefined;
    throw new EngineError('model_invalid', `Model folder ${modelDir} is incomplete: ${parts.join('/')} is missing`);
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new EngineError('model_invalid', `Cannot read ${parts.join('/')} in ${modelDir}: invalid JSON (${reason})`, {
      cause: err,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EngineError('model_invalid', `Cannot read ${parts.join('/')} in ${modelDir}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}
