/** Test clocks: time moves only when the test says so (no sleeps to make timestamps differ). */
import type { Clock } from '../../src/domain/clock.ts';

export interface TestClock extends Clock {
  /** Moves the clock forward. */
  advance(ms: number): void;
}

/** Starts at `start` and moves `stepMs` forward on every reading, so successive stamps always differ and order. */
export function steppingClock(start = Date.now(), stepMs = 1): TestClock {
  let now = start;
  const clock = () => {
    const date = new Date(now);
    now += stepMs;
    return date;
  };
  return Object.assign(clock, { advance: (ms: number) => void (now += ms) });
}
