/**
 * How `sdapi serve` and `sdapi worker` end on SIGTERM (serveUntilStopped): a handle a library leaves open does not
 * keep the process alive, a stop that hangs is cut short at the deadline, and a second signal exits at once. Each
 * case runs in a child process, since the function exits its process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const CLI_CONTEXT = join(import.meta.dirname, '../../src/cli/cli-context.ts');

type Mode = 'leaves-a-handle' | 'hangs' | 'slow';

/** Starts a process whose close() behaves as `mode`, sends it `signals` SIGTERMs once it waits, and collects its end. */
function stopChild(mode: Mode, signals: number): Promise<{ code: number | null; lines: { msg: string; open?: string[] }[] }> {
  const script = `
    import pino from 'pino';
    import { serveUntilStopped } from ${JSON.stringify(CLI_CONTEXT)};
    const mode = ${JSON.stringify(mode)};
    // Stands for the listening server, which holds the process until close().
    const server = setInterval(() => undefined, 1000);
    const close = () => {
      clearInterval(server);
      if (mode === 'leaves-a-handle') { setInterval(() => undefined, 1000); return Promise.resolve(); }
      if (mode === 'hangs') return new Promise(() => setInterval(() => undefined, 1000));
      return new Promise((resolve) => setTimeout(resolve, 60_000));
    };
    const stopped = serveUntilStopped(pino(), close, mode === 'hangs' ? 300 : 60_000);
    console.log(JSON.stringify({ msg: 'waiting' }));
    await stopped;
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let sent = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      // One signal when it waits; a second once it says it is stopping.
      if (sent === 0 && out.includes('"waiting"')) {
        sent++;
        child.kill('SIGTERM');
      } else if (sent === 1 && signals > 1 && out.includes('"stopping"')) {
        sent++;
        child.kill('SIGTERM');
      }
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, lines: out.trim().split('\n').map((line) => JSON.parse(line) as { msg: string; open?: string[] }) });
    });
  });
}

describe('sdapi serve/worker stopping', () => {
  it('exits (code 0) when close() left a handle open, and names it', async () => {
    const { code, lines } = await stopChild('leaves-a-handle', 1);
    assert.equal(code, 0);
    assert.deepEqual(lines.map((l) => l.msg), ['waiting', 'stopping', 'stopped', 'still open 2 s after stopping; exiting']);
    assert.ok(lines[3].open?.includes('Timeout'), JSON.stringify(lines[3]));
  });

  it('exits with code 1 when close() does not finish by the deadline', async () => {
    const { code, lines } = await stopChild('hangs', 1);
    assert.equal(code, 1);
    assert.deepEqual(lines.map((l) => l.msg), ['waiting', 'stopping', 'did not stop within 0.3 s']);
  });

  it('a second signal while stopping exits at once with code 1', async () => {
    const { code, lines } = await stopChild('slow', 2);
    assert.equal(code, 1);
    assert.deepEqual(lines.map((l) => l.msg), ['waiting', 'stopping', 'stopped at once by a second signal']);
  });
});
