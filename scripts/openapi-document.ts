/**
 * The OpenAPI document of the HTTP API, built from the route schemas exactly as the server serves it at
 * /api/v1/openapi.json, but without a deployment's `servers` (clients bring their base URL). The TypeScript client's
 * types are generated from it (scripts/generate-client.ts) and a test checks they are current.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildHttpApp, openRuntime } from '../src/composition/runtime.ts';
import { loadConfig, projectRoot } from '../src/config/load-config.ts';

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sdapi-openapi-'));
  const config = loadConfig({
    SDAPI_ENV_FILE: 'none',
    SDAPI_DATA_DIR: dataDir,
    SDAPI_MODEL_DIR: join(projectRoot, 'models/tiny/sd1'),
    SDAPI_PUBLIC_URL: 'http://127.0.0.1:8080',
    SDAPI_WORKERS: '0',
  });
  const runtime = await openRuntime(config, {}, { logger: pino({ level: 'silent' }), runsModels: false });
  try {
    const app = await buildHttpApp(runtime);
    await app.ready();
    const document = structuredClone(app.swagger()) as Record<string, unknown>;
    await app.close();
    delete document.servers;
    return document;
  } finally {
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
