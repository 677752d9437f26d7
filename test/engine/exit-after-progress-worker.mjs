// Test-only engine worker (EngineThread's `workerUrl`): the real worker entry, except that the thread exits
// abruptly, as after a native crash, once it has sent SDAPI_TEST_EXIT_AFTER_PROGRESS progress events (read from
// the env the Worker inherits when it is created). It exits inside the progress callback, i.e. between two UNet
// runs: terminating a thread while ONNX Runtime is inside run() aborts the whole process, which is not what this
// simulates. Plain JS for the same reason as src/engine/thread/worker-bootstrap.mjs.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

const limit = Number(process.env.SDAPI_TEST_EXIT_AFTER_PROGRESS);
if (!Number.isInteger(limit) || limit < 1) throw new Error('set SDAPI_TEST_EXIT_AFTER_PROGRESS to a positive integer');
let progressEvents = 0;
const post = parentPort.postMessage.bind(parentPort);
parentPort.postMessage = (message, transfer) => {
  post(message, transfer);
  if (message?.type === 'progress' && ++progressEvents >= limit) process.exit(70);
};

register();
await import('../../src/engine/thread/worker-entry.ts');
