/** Option parsers shared by the commands: each throws commander's InvalidArgumentError, reported as bad input (exit 2). */
import { InvalidArgumentError } from 'commander';

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

export function multipleOf8(min: number, max: number): (value: string) => number {
  const parse = integerIn(min, max);
  return (value) => {
    const n = parse(value);
    if (n % 8 !== 0) throw new InvalidArgumentError('must be a multiple of 8');
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

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** A lifetime such as 30m, 12h, 7d or 2w, in milliseconds. */
export function duration(value: string): number {
  const m = /^([1-9]\d{0,5})([mhdw])$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a whole number with a unit: m (minutes), h (hours), d (days) or w (weeks), e.g. 7d');
  return Number(m[1]) * DURATION_UNIT_MS[m[2]];
}
