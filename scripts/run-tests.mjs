#!/usr/bin/env node
// Runs test/**/*.test.ts with node's built-in runner (Node 20 has no glob support for --test), in two tiers:
//
//   fast  in-process tests: unit, engine, queue, services, config, storage, and the API and web UI through
//         inject(). Files are independent (own temp dirs, databases, Redis prefixes) and run two at a time.
//         The service-layer files (everything but test/engine/) share two processes, one bundle each, so the
//         TypeScript loader and the dependencies are set up twice instead of once per file; engine files keep
//         a process of their own.
//   slow  tests that start processes or a browser, the demo model's content checks and the exhaustive fuzzers:
//         test/{cli,e2e,scale-out,browser,demo-model}/ and *.slow.test.ts. One file at a time, after the fast tier.
//
// Usage: npm test [-- <filter substring> ...]     every tier (CI), or the files matching a filter
//        npm run test:fast [-- <filter> ...]       the fast tier only
// SDAPI_TEST_CONCURRENCY: fast-tier processes at once (default 2: the project's CI has 2 cores).
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const fastOnly = args[0] === '--fast';
const filters = fastOnly ? args.slice(1) : args;
const SLOW = /^test\/(cli|e2e|scale-out|browser|demo-model)\/|\.slow\.test\.ts$/;
const OWN_PROCESS = /^test\/engine\//;
const concurrency = Number(process.env.SDAPI_TEST_CONCURRENCY) || 2;

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name !== 'fixtures') out.push(...collect(full));
    } else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

/** Splits files into `n` bundles of about equal size (file size stands in for run time), keeping their order. */
function bundle(files, n) {
  const bundles = Array.from({ length: n }, () => ({ files: [], weight: 0 }));
  for (const file of [...files].sort((a, b) => statSync(join(root, b)).size - statSync(join(root, a)).size)) {
    const lightest = bundles.reduce((a, b) => (b.weight < a.weight ? b : a));
    lightest.files.push(file);
    lightest.weight += statSync(join(root, file)).size;
  }
  return bundles.filter((b) => b.files.length > 0).map((b) => b.files.sort());
}

const files = collect(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
const fast = files.filter((f) => !SLOW.test(f));
const slow = fastOnly ? [] : files.filter((f) => SLOW.test(f));
if (fast.length + slow.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const bundleDir = mkdtempSync(join(tmpdir(), 'sdapi-tests-'));
process.on('exit', () => rmSync(bundleDir, { recursive: true, force: true }));
const shared = fast.filter((f) => !OWN_PROCESS.test(f));
const size = (f) => statSync(f.startsWith('/') ? f : join(root, f)).size;
// Longest first (the bundles, then the biggest files), so two at a time finish close together.
const fastEntries = [
  ...bundle(shared, shared.length > 3 ? concurrency : 1).map((group, i) => {
    if (group.length === 1) return group[0];
    const entry = join(bundleDir, `bundle-${i + 1}.test.mjs`);
    writeFileSync(entry, `// ${group.length} test files in one process\n${group.map((f) => `import ${JSON.stringify(join(root, f))};`).join('\n')}\n`);
    return entry;
  }),
  ...fast.filter((f) => OWN_PROCESS.test(f)).sort((a, b) => size(b) - size(a)),
];

const tiers = [
  { name: 'fast', entries: fastEntries, files: fast.length, concurrency },
  { name: 'slow', entries: slow, files: slow.length, concurrency: 1 },
].filter((t) => t.entries.length > 0);

let status = 0;
for (const tier of tiers) {
  if (tiers.length > 1) console.log(`# ${tier.name} tier: ${tier.files} files in ${tier.entries.length} processes, ${tier.concurrency} at a time`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${tier.concurrency}`, '--test-reporter=spec', ...tier.entries], {
    cwd: root,
    stdio: 'inherit',
  });
  if (tiers.length > 1) console.log(`# ${tier.name} tier: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
