/** Option parsers shared by the commands: each throws commander's InvalidArgumentError, reported as bad input (exit 2). */
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { isDeviceName, type DeviceName } from '../domain/devices.ts';
import type { Config } from '../config/load-config.ts';

export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (!/^[+-]?\d+$/.test(value.trim()) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number between ${min} and ${max}`);
    return n;
  };
}

export function nonZeroInteger(value: string): number {
  const n = Number(value.trim());
  if (!/^[+-]?\d+$/.test(value.trim()) || n === 0 || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a non-zero whole number');
  return n;
}

export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('must be a number');
  return n;
}

export function numberIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = finiteNumber(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be a number between ${min} and ${max}`);
    return n;
  };
}

export function oneOf<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    const found = allowed.find((a) => a === value);
    if (found === undefined) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return found;
  };
}

export function deviceName(value: string): DeviceName {
  if (!isDeviceName(value)) throw new InvalidArgumentError('must be cpu, cuda or cuda:N');
  return value;
}

/** The options `serve`, `worker` and `engines check` share: they override SDAPI_ENGINES and SDAPI_DEVICE. */
export interface EngineOptions {
  engines?: string;
  device?: DeviceName;
}

export function applyEngineOptions(config: Config, options: EngineOptions): Config {
  if (options.engines !== undefined) config.enginesFile = resolve(options.engines);
  if (options.device !== undefined) config.device = options.device;
  return config;
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A lifetime such as 30m, 12h, 7d or 2w, in milliseconds. */
export function duration(value: string): number {
  const m = /^([1-9]\d{0,5})([mhdw])$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a whole number with a unit: m (minutes), h (hours), d (days) or w (weeks), e.g. 7d');
  return Number(m[1]) * DURATION_UNIT_MS[m[2]];
}
