/** Fault injection for EngineThread tests (via its `workerUrl` option): a worker that exits after N progress events. */

/** The test-only worker module (exit-after-progress-worker.mjs). */
export const EXIT_AFTER_PROGRESS_WORKER = new URL('./exit-after-progress-worker.mjs', import.meta.url);

/** Runs `body` with the crashing worker set to exit after `events` progress events (env read by new workers). */
export async function withWorkerExitAfter<T>(events: number, body: () => Promise<T>): Promise<T> {
  const previous = process.env.SDAPI_TEST_EXIT_AFTER_PROGRESS;
  process.env.SDAPI_TEST_EXIT_AFTER_PROGRESS = String(events);
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env.SDAPI_TEST_EXIT_AFTER_PROGRESS;
    else process.env.SDAPI_TEST_EXIT_AFTER_PROGRESS = previous;
  }
}
