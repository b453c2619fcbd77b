// GET /_synapse/metrics: Prometheus metrics (prom-client), at Synapse's path; plus request counters.
import { createRequire } from 'node:module';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Counter, Histogram, Registry } from 'prom-client';
import type * as PromClient from 'prom-client';
import type { AppServices } from './app.js';

const requireCjs = createRequire(import.meta.url);
let promClient: typeof PromClient | undefined;

/**
 * prom-client, loaded on first use (~1.5 MB of heap and its default collectors): a server that
 * mounts no `metrics` resource never loads it. Synchronous (a CommonJS package), so the request
 * hook can create its counters in place; whoever passes a Registry in has loaded it already.
 */
export function promClientModule(): typeof PromClient {
  return (promClient ??= requireCjs('prom-client') as typeof PromClient);
}

/** A registry with Node's default process metrics, for the `metrics` resource. */
export function createMetricsRegistry(): Registry {
  const { Registry, collectDefaultMetrics } = promClientModule();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

const REQUESTS = 'tsmatrix_http_requests_total';
const DURATION = 'tsmatrix_http_request_duration_seconds';

interface RequestMetrics {
  count: Counter<string>;
  duration: Histogram<string>;
}
const byRegistry = new WeakMap<Registry, RequestMetrics>();

/** The request metrics of a registry, created once per registry (several listeners share one). */
function requestMetrics(registry: Registry): RequestMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const { Counter, Histogram } = promClientModule();
  const count =
    (registry.getSingleMetric(REQUESTS) as Counter<string> | undefined) ??
    new Counter({ name: REQUESTS, help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const duration =
    (registry.getSingleMetric(DURATION) as Histogram<string> | undefined) ??
    new Histogram({
      name: DURATION,
      help: 'Time to answer HTTP requests',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    });
  const metrics = { count, duration };
  byRegistry.set(registry, metrics);
  return metrics;
}

/** Counts one answered request. The route label is the pattern, never the raw path (bounded set). */
export function recordRequestMetric(registry: Registry, request: FastifyRequest, status: number, ms: number): void {
  const route = request.routeOptions.url ?? 'unmatched';
  const m = requestMetrics(registry);
  m.count.inc({ method: request.method, route, status: String(status) });
  m.duration.observe({ method: request.method, route }, ms / 1000);
}

export function metricsRoutes(services: AppServices) {
  const registry = services.metrics ?? new (promClientModule().Registry)();
  return async function routes(app: FastifyInstance): Promise<void> {
    app.get('/_synapse/metrics', async (_request, reply) => {
      reply.type(registry.contentType).send(await registry.metrics());
    });
  };
}
