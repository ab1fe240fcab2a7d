import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestHandler } from 'express';

/**
 * The process's Prometheus metrics, in a registry of its own (several apps can
 * live in one test process).
 *
 * @example
 * const metrics = createMetrics(); app.use(metrics.httpMiddleware); await metrics.registry.metrics();
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpMiddleware: RequestHandler;
  readonly eventsPublished: Counter<'module'>;
  readonly eventsHandled: Counter<'handler' | 'outcome'>;
  readonly outboxPending: Gauge<'module'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const httpMiddleware: RequestHandler = function metricsMiddleware(req, res, next) {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      // The route pattern, not the URL, keeps label cardinality bounded.
      const route = typeof res.locals.route === 'string' ? res.locals.route : req.path === '/health' || req.path === '/metrics' ? req.path : 'unmatched';
      duration.observe({ method: req.method, route, status: String(res.statusCode) }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
  return {
    registry,
    httpMiddleware,
    eventsPublished: new Counter({ name: 'events_published_total', help: 'Events handed from an outbox to the transport', labelNames: ['module'] as const, registers: [registry] }),
    eventsHandled: new Counter({ name: 'events_handled_total', help: 'Event deliveries by handler and outcome', labelNames: ['handler', 'outcome'] as const, registers: [registry] }),
    outboxPending: new Gauge({ name: 'outbox_pending_events', help: 'Unpublished events per module outbox', labelNames: ['module'] as const, registers: [registry] }),
  };
}
