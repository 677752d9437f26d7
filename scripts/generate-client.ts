/**
 * `npm run client:generate`: writes the OpenAPI document and the TypeScript types generated from it (openapi-typescript)
 * into clients/typescript. test/clients/typescript-client.test.ts fails when the committed files are stale.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../src/config/load-config.ts';
import { clientFiles } from './client-files.ts';

const files = await clientFiles();
for (const [path, text] of Object.entries(files)) {
  await writeFile(join(projectRoot, path), text);
  console.log(`wrote ${path}`);
}
