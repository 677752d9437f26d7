/**
 * Public image files: /storage/<ai_version_code>/<uuid>.png and <uuid>.png.thumbnail.jpg. Names are immutable, so caching is long.
 * Streams from any FileStorage with single-range requests (206/416) and conditional GETs (304); a storage that presigns
 * (S3 with presign on) gets a 302 to a short-lived URL instead. A missing object or an invalid key is a 404; a storage
 * that fails is a 503 whose body names nothing internal (the error goes to the log).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { contentTypeOf, IMMUTABLE_CACHE_CONTROL, isValidKey, type ByteRange, type FileStorage, type StoredFileInfo } from '../../storage/file-storage.ts';

export interface StorageRouteDeps {
  storage: FileStorage;
  /** Body message of the 503 answered when the storage fails. */
  unavailableMessage?: string;
}

/** Headers that describe the object, set before it is opened and taken back when that fails. */
const VALIDATORS = ['cache-control', 'etag', 'last-modified', 'accept-ranges'];

type RangeResult = ByteRange | 'unsatisfiable' | undefined;

/**
 * One `bytes=a-b`, `bytes=a-` or `bytes=-n` against an object of `size` bytes: the inclusive range, 'unsatisfiable',
 * or undefined when the header is absent, malformed or asks for several ranges (then the whole object is sent, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (end < start) return m[2] === '' ? 'unsatisfiable' : undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

const stripWeak = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag);
const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/** If-None-Match (weak comparison, `*`), else If-Modified-Since. */
function notModified(request: FastifyRequest, etag: string, modifiedAt: Date): boolean {
  const inm = request.headers['if-none-match'];
  if (inm !== undefined) {
    return inm.split(',').some((t) => {
      const tag = t.trim();
      return tag === '*' || stripWeak(tag) === stripWeak(etag);
    });
  }
  const ims = request.headers['if-modified-since'];
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return Number.isFinite(since) && seconds(modifiedAt) <= Math.floor(since / 1000);
}

/** If-Range: the range applies only while the representation is the one the client has (strong ETag or exact date). */
function ifRangeMatches(request: FastifyRequest, etag: string, modifiedAt: Date): boolean {
  const raw = request.headers['if-range'];
  if (raw === undefined) return true;
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && !etag.startsWith('W/') && value === etag;
  const date = Date.parse(value);
  return Number.isFinite(date) && Math.floor(date / 1000) === seconds(modifiedAt);
}

function etagOf(info: StoredFileInfo): string {
  return info.etag ?? `"${info.size.toString(16)}-${info.modifiedAt.getTime().toString(16)}"`;
}

export function storageRoutes({ storage, ...options }: StorageRouteDeps): FastifyPluginAsync {
  const unavailableMessage = options.unavailableMessage ?? 'Image storage is unavailable at the moment; try again shortly.';

  const notFound = (reply: FastifyReply) => reply.status(404).send({ message: 'File not found.', code: 'not_found' });
  const unavailable = (request: FastifyRequest, reply: FastifyReply, err: unknown) => {
    request.log.error({ err, key: (request.params as { '*'?: string })['*'] }, 'image storage failed');
    for (const h of VALIDATORS) reply.removeHeader(h);
    return reply.status(503).header('cache-control', 'no-store').header('retry-after', '5').send({ message: unavailableMessage, code: 'storage_unavailable' });
  };

  return async (app) => {
    app.route<{ Params: { '*': string } }>({
      method: ['GET', 'HEAD'],
      url: '/storage/*',
      schema: { hide: true },
      // Images get CORP cross-origin (clients embed them on their own sites) and no CSP: security-headers.ts.
      config: { public: true, headers: 'images' },
      handler: async (request, reply) => {
        reply.header('x-content-type-options', 'nosniff');
        const key = request.params['*'];
        const type = contentTypeOf(key);
        if (!type || !isValidKey(key)) return notFound(reply);
        let info: StoredFileInfo | undefined;
        try {
          info = await storage.stat(key);
        } catch (err) {
          return unavailable(request, reply, err);
        }
        if (!info) return notFound(reply);

        if (storage.redirectUrl) {
          let target: { url: string; expiresInSeconds: number } | undefined;
          try {
            target = await storage.redirectUrl(key);
          } catch (err) {
            return unavailable(request, reply, err);
          }
          if (target) {
            // A cached redirect must not outlive its URL: browsers may keep it for half the URL's lifetime.
            return reply.header('cache-control', `private, max-age=${Math.floor(target.expiresInSeconds / 2)}`).redirect(target.url, 302);
          }
        }

        const etag = etagOf(info);
        reply
          .header('cache-control', IMMUTABLE_CACHE_CONTROL)
          .header('etag', etag)
          .header('last-modified', info.modifiedAt.toUTCString())
          .header('accept-ranges', 'bytes');
        if (notModified(request, etag, info.modifiedAt)) return reply.status(304).send();

        const range = ifRangeMatches(request, etag, info.modifiedAt) ? parseRange(request.headers.range, info.size) : undefined;
        if (range === 'unsatisfiable') {
          return reply.status(416).header('content-range', `bytes */${info.size}`).send({ message: 'Range not satisfiable.', code: 'range_not_satisfiable' });
        }
        let stream: Readable | undefined;
        if (request.method !== 'HEAD') {
          try {
            stream = await storage.openReadStream(key, range);
          } catch (err) {
            return unavailable(request, reply, err);
          }
          if (!stream) {
            for (const h of VALIDATORS) reply.removeHeader(h);
            return notFound(reply);
          }
        }
        reply.header('content-type', type);
        if (range) {
          reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${info.size}`).header('content-length', range.end - range.start + 1);
        } else {
          reply.header('content-length', info.size);
        }
        return stream ? reply.send(stream) : reply.send();
      },
    });
  };
}
