/**
 * Operations: liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics), outside /api/v1 and outside
 * its rate limit (an orchestrator probes every few seconds). /metrics needs `Authorization: Bearer
 * <SDAPI_METRICS_TOKEN>` when that is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import type { ServiceMetrics } from '../../services/ops/metrics.ts';
import type { ReadinessService } from '../../services/ops/readiness.ts';
import { bearerToken } from '../auth.ts';
import { ErrorBody } from '../schemas.ts';

export interface OpsRouteDeps {
  readiness: ReadinessService;
  metrics: ServiceMetrics;
  /** SDAPI_METRICS_TOKEN; undefined = /metrics is open. */
  metricsToken?: string;
}

const tags = ['operations'];
const Checks = Type.Record(Type.String(), Type.Union([Type.Literal('ok'), Type.Literal('failed')]), {
  description: 'Each dependency: `store` (the database), `redis` (where SDAPI_QUEUE_URL names one).',
  examples: [{ store: 'ok', redis: 'failed' }],
});
const ReadyBody = Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]), checks: Checks });

const digest = (text: string) => createHash('sha256').update(text).digest();

export function opsRoutes(deps: OpsRouteDeps): FastifyPluginAsync {
  const expected = deps.metricsToken === undefined ? undefined : digest(deps.metricsToken);
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { public: true },
        schema: {
          tags,
          summary: 'Liveness',
          description: 'Answers 200 while the process runs and its event loop turns; checks no dependency (that is /readyz).',
          security: [],
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', 'no-store');
        return { status: 'ok' as const };
      },
    );

    app.get(
      '/readyz',
      {
        config: { public: true },
        schema: {
          tags,
          summary: 'Readiness',
          description: 'Answers 200 when the store (and Redis, where configured) answer within 2 s, else 503 naming which did not.',
          security: [],
          response: { 200: ReadyBody, 503: ReadyBody },
        },
      },
      async (request, reply) => {
        const readiness = await deps.readiness.check();
        reply.header('cache-control', 'no-store');
        if (readiness.ready) return { status: 'ready' as const, checks: readiness.checks };
        // The details are for the operator's log; the answer names only the failed dependency.
        request.log.warn({ failed: readiness.errors }, 'not ready');
        return reply.code(503).send({ status: 'unavailable' as const, checks: readiness.checks });
      },
    );

    app.get(
      '/metrics',
      {
        config: { public: true },
        schema: {
          tags,
          summary: 'Prometheus metrics',
          description:
            'Prometheus text format: HTTP request durations by route, jobs by kind/engine/status, queue depth and oldest pending job per engine, ' +
            'job duration and queue-wait histograms, live workers, webhook deliveries, Node process metrics. Needs `Authorization: Bearer ' +
            '<SDAPI_METRICS_TOKEN>` when that variable is set.',
          security: [{ metricsToken: [] }],
          response: {
            200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
            401: { description: 'SDAPI_METRICS_TOKEN is set and the request does not carry it', ...ErrorBody },
          },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store');
        if (expected) {
          const given = bearerToken(request);
          if (!given || !timingSafeEqual(digest(given), expected)) {
            return reply.code(401).header('www-authenticate', 'Bearer realm="metrics"').send({ message: 'Unauthenticated.' });
          }
        }
        const text = await deps.metrics.scrape((err) => request.log.error({ err }, 'metrics: the database figures could not be read'));
        return reply.type(deps.metrics.contentType).send(text);
      },
    );
  };
}
