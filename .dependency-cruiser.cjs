/**
 * Import boundaries of src/ (npm run lint:deps, run by .ci/run; test/lint/dependency-rules.test.ts shows each rule
 * failing on a deliberate violation). The layers, top to bottom:
 *
 *   cli ─→ composition ─→ api ─→ services ─→ store · queue · storage      (everything may use domain and config types)
 *                      └→ worker ─→ queue (handlers come from services)     engine: a library, used through its entries
 *
 * Type-only imports count too (tsPreCompilationDeps), so a layer cannot reach down even for a type.
 */
const ENGINE_ENTRIES = '^src/engine/(index\\.ts|thread/engine-thread\\.ts)$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles: every module can be understood (and tested) after the ones it imports.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'engine-is-a-library',
      severity: 'error',
      comment: 'The engine imports only itself, node builtins and onnxruntime-node (and tsx, to start its TypeScript worker thread).',
      from: { path: '^src/engine/' },
      to: {
        pathNot: ['^src/engine/', 'node_modules/onnxruntime-node/', 'node_modules/onnxruntime-common/', 'node_modules/tsx/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'engine-worker-loader-only-in-bootstrap',
      severity: 'error',
      comment: 'tsx is the one non-engine import of the engine, and only its worker bootstrap uses it.',
      from: { path: '^src/engine/', pathNot: '^src/engine/thread/worker-bootstrap\\.mjs$' },
      to: { path: 'node_modules/tsx/' },
    },
    {
      name: 'engine-through-its-entries',
      severity: 'error',
      comment: 'Outside the engine, import it only through src/engine/index.ts (or the worker-thread host, src/engine/thread/engine-thread.ts).',
      from: { path: '^src/', pathNot: '^src/engine/' },
      to: { path: '^src/engine/', pathNot: ENGINE_ENTRIES },
    },
    {
      name: 'engine-only-for-services-and-engine-commands',
      severity: 'error',
      comment: 'Only the services (and the CLI generate/tokenize commands) use the engine; the API, store, queue and storage never do.',
      from: { path: '^src/(api|store|queue|storage|domain|config|worker)/' },
      to: { path: '^src/engine/' },
    },
    {
      name: 'cli-engine-only-in-engine-commands',
      severity: 'error',
      from: { path: '^src/cli/', pathNot: '^src/cli/commands/engine\\.commands\\.ts$' },
      to: { path: '^src/engine/' },
    },
    {
      name: 'api-not-to-data-or-workers',
      severity: 'error',
      comment: 'Routes talk to services: never to the store (SQL), the queue, the worker, the composition root or the CLI.',
      from: { path: '^src/api/' },
      to: { path: '^src/(store|queue|worker|composition|cli)/' },
    },
    {
      name: 'services-not-up',
      severity: 'error',
      comment: 'Services know nothing of HTTP, the worker loop, the CLI, the composition root or the configuration source.',
      from: { path: '^src/services/' },
      to: { path: '^src/(api|worker|cli|composition|config)/' },
    },
    {
      name: 'no-fastify-below-api',
      severity: 'error',
      comment: 'Only the API (and the composition root that starts it) uses Fastify.',
      from: { path: '^src/', pathNot: '^src/(api|composition)/' },
      to: { path: 'node_modules/(fastify|@fastify)/' },
    },
    {
      name: 'store-is-the-bottom',
      severity: 'error',
      comment: 'The store (repositories, SQL) depends only on the domain types.',
      from: { path: '^src/store/' },
      to: { path: '^src/(?!store/|domain/)' },
    },
    {
      name: 'only-store-uses-the-drivers',
      severity: 'error',
      comment: 'SQL lives in src/store: nothing else imports the database drivers or builds queries.',
      from: { path: '^src/', pathNot: '^src/store/' },
      to: { path: 'node_modules/(kysely|better-sqlite3|pg)/' },
    },
    {
      name: 'queue-below-services',
      severity: 'error',
      comment: 'The queue uses the store (its jobs repository) and the domain; services, not the queue, know what jobs do.',
      from: { path: '^src/queue/' },
      to: { path: '^src/(api|services|worker|cli|composition|storage|config)/' },
    },
    {
      name: 'storage-is-the-bottom',
      severity: 'error',
      from: { path: '^src/storage/' },
      to: { path: '^src/(?!storage/|domain/)' },
    },
    {
      name: 'worker-runs-handlers',
      severity: 'error',
      comment: 'The worker loop claims and dispatches; it gets its handlers (services) from the composition root.',
      from: { path: '^src/worker/' },
      to: { path: '^src/(api|cli|composition|store|storage|config)/' },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'Domain types and schemas depend on nothing else in src/.',
      from: { path: '^src/domain/' },
      to: { path: '^src/(?!domain/)' },
    },
    {
      name: 'config-is-pure',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: '^src/(?!config/)' },
    },
    {
      name: 'composition-only-from-the-cli',
      severity: 'error',
      comment: 'One composition root, used by the CLI (and by tests and benches, which are outside src/).',
      from: { path: '^src/', pathNot: '^src/(cli|composition)/' },
      to: { path: '^src/composition/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.mjs', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
