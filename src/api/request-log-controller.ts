/**
 * Fastify's per-request completion: the HTTP metrics observation, and the log lines, one per request instead of two: no "incoming request" line, and the completion
 * line at info for writes and failures but at debug for successful reads, so a client polling its entries every
 * second does not fill the log. The request id is logged explicitly (requests get no child logger, see app.ts).
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

const LEVEL_VALUES: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export class RequestLogController extends LogController {
  /** `observe`: called for every completed request (the HTTP metrics), cheaper than an onResponse hook. */
  constructor(private readonly observe?: (request: FastifyRequest, reply: FastifyReply) => void) {
    super();
  }

  override incomingRequest(): void {
    // One line per request: the completion line says everything.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    this.observe?.(request, reply);
    const status = reply.statusCode;
    const read = request.method === 'GET' || request.method === 'HEAD';
    const level = error || status >= 500 ? 'error' : read && status < 400 ? 'debug' : 'info';
    // Checked before building the line: at the default level the polling path costs no formatting at all.
    if (LEVEL_VALUES[level] < (LEVEL_VALUES[request.log.level] ?? Infinity)) return;
    request.log[level]({ reqId: request.id, method: request.method, url: request.url, statusCode: status, responseTime: Math.round(reply.elapsedTime * 10) / 10, err: error ?? undefined }, 'request');
  }
}
