// The baseline of `npm run bench:api`: a bare Fastify server (no plugins, hooks, auth or schemas) that answers
// each route with the very JSON body the real server answered, serialised per request as a plain route does.
//   node bench/bare-server.mjs <bodies.json> <port>     bodies.json: { "/path": <json body>, ... }
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [file, port] = process.argv.slice(2);
const bodies = JSON.parse(readFileSync(file, 'utf8'));
const app = Fastify({ logger: false });
for (const [path, body] of Object.entries(bodies)) app.get(path, async () => body);
await app.listen({ host: '127.0.0.1', port: Number(port) });
process.stdout.write('listening\n');
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
