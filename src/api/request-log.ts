/**
 * One log line per request (Fastify's own request logging, two lines at info, is turned off): at info for writes
 * and failures, at debug for successful reads, so a client polling its entries every second does not fill the log.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

function enabled(configured: string, level: 'debug' | 'info' | 'error'): boolean {
  return LEVEL_VALUES[level] >= (LEVEL_VALUES[configured] ?? Infinity);
}

export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const status = reply.statusCode;
    const read = request.method === 'GET' || request.method === 'HEAD';
    const level = status >= 500 ? 'error' : read && status < 400 ? 'debug' : 'info';
    if (enabled(request.log.level, level)) {
      request.log[level]({ reqId: request.id, method: request.method, url: request.url, statusCode: status, responseTime: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
    }
    done();
  });
}
