/**
 * Test-only entry point: runs the sdapi CLI exactly as bin/sdapi.js does, but builds the runtime with a test double
 * chosen by leading flags (production code has no such switch):
 *   node --import tsx test/helpers/sdapi-test.ts [--hold-generation | --delay-generation MS] serve|worker …
 * --hold-generation: every generation waits until its job is aborted (SIGTERM hands it back) or the process is
 *   killed, so a test can stop or kill -9 a process while a job is `running`.
 * --delay-generation MS: every generation waits MS first (the live status stays on screen long enough to assert).
 * --step-generation: every generation waits like --hold-generation, and each line read on stdin lets the oldest
 *   waiting one through, so a test decides exactly when each job of the process finishes.
 */
import { createInterface } from 'node:readline';
import { main } from '../../src/cli/main.ts';
import { HeldGenerator } from './held-generator.ts';

const argv = process.argv.slice(2);
let delayMs: number | undefined;
let hold = false;
let step = false;
if (argv[0] === '--step-generation') {
  hold = true;
  step = true;
  argv.shift();
} else if (argv[0] === '--hold-generation') {
  hold = true;
  argv.shift();
} else if (argv[0] === '--delay-generation') {
  delayMs = Number(argv[1]);
  argv.splice(0, 2);
}
const held: HeldGenerator[] = [];
if (step) {
  // A line that arrives before its generation is held is kept for it, so the test need not wait for the hold.
  let pending = 0;
  const tryRelease = () => {
    while (pending > 0 && held.some((h) => h.releaseOne())) pending--;
  };
  createInterface({ input: process.stdin }).on('line', () => {
    pending++;
    tryRelease();
  });
  setInterval(tryRelease, 20).unref();
}
process.exitCode = await main(argv, {
  overrides:
    hold || delayMs !== undefined
      ? {
          wrapGenerator: (generator) => {
            const wrapped = new HeldGenerator(generator, delayMs);
            held.push(wrapped);
            return wrapped;
          },
        }
      : {},
});
