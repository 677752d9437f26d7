/** Public image files: /storage/<ai_version_code>/<uuid>.png and <uuid>.png.thumbnail.jpg. Names are immutable, so caching is long. */
import type { FastifyPluginAsync } from 'fastify';
import { isValidKey, type FileStorage } from '../../storage/file-storage.ts';

const TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp' };

export interface StorageRouteDeps {
  storage: FileStorage;
}

export function storageRoutes({ storage }: StorageRouteDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Params: { '*': string } }>('/storage/*', { schema: { hide: true }, config: { public: true } }, async (request, reply) => {
      const key = request.params['*'];
      const ext = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
      const type = TYPES[ext];
      const info = type && isValidKey(key) ? await storage.stat(key) : undefined;
      if (!type || !info) return reply.status(404).send({ message: 'File not found.', code: 'not_found' });
      const etag = `"${info.size.toString(16)}-${info.modifiedAt.getTime().toString(16)}"`;
      reply
        .header('content-type', type)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('etag', etag)
        .header('last-modified', info.modifiedAt.toUTCString())
        .header('x-content-type-options', 'nosniff');
      if (request.headers['if-none-match'] === etag) return reply.status(304).send();
      reply.header('content-length', info.size);
      return reply.send(storage.createReadStream(key));
    });
  };
}
