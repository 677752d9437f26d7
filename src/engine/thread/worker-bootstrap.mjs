// Worker bootstrap: registers tsx, then loads the TypeScript worker entry.
// Node 20 cannot start a .ts file as a worker with `execArgv: ['--import', 'tsx']` (the loader hooks register
// asynchronously, after the worker's entry was resolved: ERR_UNKNOWN_FILE_EXTENSION — verified), so this
// plain-JS file does the registration itself before importing worker-entry.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker-entry.ts');
