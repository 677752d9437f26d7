/** runStopSteps: the named, ordered steps of a graceful stop (server, worker process, runtime). */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import Fastify from 'fastify';
import { request } from 'node:http';
import { closeHttpServer, runStopSteps } from '../../src/composition/stop-steps.ts';

/** A logger whose lines land in `lines`; `onLine` sees each as it is written. */
function captureLogger(onLine: (line: { msg: string; step?: string }) => void = () => undefined) {
  const lines: { msg: string; step?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const line = JSON.parse(chunk.toString()) as { msg: string; step?: string };
      lines.push(line);
      onLine(line);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

describe('runStopSteps', () => {
  it('runs every step in order, even after one fails, and rethrows the first failure', async () => {
    const ran: string[] = [];
    const { logger } = captureLogger();
    await assert.rejects(
      runStopSteps(logger, [
        ['a', () => void ran.push('a')],
        ['b', () => Promise.reject(new Error('b failed'))],
        ['c', () => Promise.reject(new Error('c failed'))],
        ['d', async () => void ran.push('d')],
      ]),
      /b failed/,
    );
    assert.deepEqual(ran, ['a', 'd']);
  });

  it('names a step that is slow in a warning, and says nothing of quick ones', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The slow step ends only once its warning has been written, so the test does not depend on timing.
    const { logger, lines } = captureLogger((line) => {
      if (line.step === 'the database') release();
    });
    // The warning's timer is unref'd (it must not hold a stopping process): hold the test's event loop meanwhile.
    const hold = setInterval(() => undefined, 1000);
    try {
      await runStopSteps(
        logger,
        [
          ['the queue', () => undefined],
          ['the database', () => released],
        ],
        20,
      );
    } finally {
      clearInterval(hold);
    }
    assert.deepEqual(
      lines.map((l) => [l.msg, l.step]),
      [['stopping: still waiting for the database', 'the database']],
    );
  });

  it('closeHttpServer cuts a response still open after the grace period, and says so', async () => {
    const app = Fastify();
    let arrived: () => void = () => undefined;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    // A response that never ends, as one whose client stopped reading would.
    app.get('/stuck', (_request, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/plain' });
      reply.raw.write('partial');
      arrived();
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const clientEnded = new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/stuck' }, (res) => {
        res.on('data', () => undefined);
        res.on('error', (err) => resolve(err.message));
        res.on('close', () => resolve('closed'));
      });
      req.on('error', (err) => resolve(err.message));
      req.end();
    });
    await requestArrived;
    const { logger, lines } = captureLogger();
    await closeHttpServer(app, logger, 50);
    assert.deepEqual(lines.map((l) => l.msg), ['stopping: cutting the HTTP connections still open']);
    assert.ok(['closed', 'aborted'].includes(await clientEnded));
  });
});
