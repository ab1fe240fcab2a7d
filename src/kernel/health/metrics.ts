import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The HTTP duration metric of one route and method: looked up once, observed per response. */
export interface HttpRouteMetric {
  readonly method: string;
  /** The route pattern (bounded label cardinality), e.g. `/api/catalog/products/:id`. */
  readonly route: string;
  observe(status: number, seconds: number): void;
}

/**
 * The process's Prometheus metrics, in a registry of its own (several apps can
 * live in one test process).
 *
 * @example
 * const metrics = createMetrics();
 * metrics.httpRoute('GET', '/health').observe(200, 0.002);
 * await metrics.registry.metrics();
 */
export interface Metrics {
  readonly registry: Registry;
  /** The duration metric of `method` + `route` (the same object for the same pair). */
  httpRoute(method: string, route: string): HttpRouteMetric;
  readonly eventsPublished: Counter<'module'>;
  readonly eventsHandled: Counter<'handler' | 'outcome'>;
  readonly outboxPending: Gauge<'module'>;
  /** Age of the oldest event waiting to be relayed, per module. */
  readonly outboxLag: Gauge<'module'>;
  /** Age of the oldest event waiting for each handler. */
  readonly handlerLag: Gauge<'handler'>;
  /** The worst lag of the event flow: what admission control acts on. */
  readonly eventLag: Gauge;
  /** Requests refused by admission control, per route. */
  readonly requestsShed: Counter<'route'>;
  /** Rows deleted by the retention purger (`EVENT_RETENTION_HOURS`), per module and table (`outbox`, `inbox`). */
  readonly eventsPurged: Counter<'module' | 'table'>;
  /** Calls to remote modules (API operations, and `proxy` for the facade) by outcome, with their duration. */
  readonly remoteCalls: Histogram<'module' | 'operation' | 'outcome'>;
  /** State of each remote module's circuit breaker: 0 closed, 1 open, 2 half-open. */
  readonly remoteBreaker: Gauge<'module'>;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface DurationSeries {
  labels: { method: string; route: string; status: string };
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  counts: number[];
  sum: number;
}

class RouteDuration implements HttpRouteMetric {
  readonly #byStatus = new Map<number, DurationSeries>();

  constructor(
    readonly method: string,
    readonly route: string,
  ) {}

  observe(status: number, seconds: number): void {
    let series = this.#byStatus.get(status);
    if (!series) {
      series = { labels: { method: this.method, route: this.route, status: String(status) }, counts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0 };
      this.#byStatus.set(status, series);
    }
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    series.counts[bucket]! += 1;
    series.sum += seconds;
  }

  series(): IterableIterator<DurationSeries> {
    return this.#byStatus.values();
  }

  reset(): void {
    // The route keeps its handle (mounted routes hold it); only the figures go.
    this.#byStatus.clear();
  }
}

/**
 * `http_request_duration_seconds`, exposed exactly like a prom-client
 * Histogram, but cheap to observe: prom-client validates and hashes the
 * labels on every observation (about 20 µs of a 400 µs request in
 * `npm run bench:http`); here a route's handle is looked up once, and a
 * response costs one map lookup by status and a bucket scan. Registered
 * through the registry's metric interface (`name`, `get()`).
 */
class RequestDurationHistogram {
  readonly name = 'http_request_duration_seconds';
  readonly help = 'HTTP request duration by method, route and status';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #routes = new Map<string, RouteDuration>();

  route(method: string, route: string): RouteDuration {
    const key = `${method} ${route}`;
    let metric = this.#routes.get(key);
    if (!metric) {
      metric = new RouteDuration(method, route);
      this.#routes.set(key, metric);
    }
    return metric;
  }

  get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const route of this.#routes.values()) {
      for (const { labels, counts, sum } of route.series()) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += counts[i]!;
          values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
        });
        const count = cumulative + counts[DURATION_BUCKETS.length]!;
        values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${this.name}_bucket` });
        values.push({ labels, value: sum, metricName: `${this.name}_sum` });
        values.push({ labels, value: count, metricName: `${this.name}_count` });
      }
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const route of this.#routes.values()) route.reset();
  }
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const duration = new RequestDurationHistogram();
  registry.registerMetric(duration as unknown as Histogram);
  return {
    registry,
    httpRoute: (method, route) => duration.route(method, route),
    eventsPublished: new Counter({ name: 'events_published_total', help: 'Events handed from an outbox to the transport', labelNames: ['module'] as const, registers: [registry] }),
    eventsHandled: new Counter({ name: 'events_handled_total', help: 'Event deliveries by handler and outcome', labelNames: ['handler', 'outcome'] as const, registers: [registry] }),
    outboxPending: new Gauge({ name: 'outbox_pending_events', help: 'Unpublished events per module outbox', labelNames: ['module'] as const, registers: [registry] }),
    outboxLag: new Gauge({ name: 'outbox_lag_seconds', help: 'Age of the oldest event waiting to be relayed, per module', labelNames: ['module'] as const, registers: [registry] }),
    handlerLag: new Gauge({ name: 'event_handler_lag_seconds', help: 'Age of the oldest event waiting for each handler', labelNames: ['handler'] as const, registers: [registry] }),
    eventLag: new Gauge({ name: 'event_lag_seconds', help: 'The worst lag of the event flow, which admission control acts on', registers: [registry] }),
    remoteCalls: new Histogram({
      name: 'remote_call_duration_seconds',
      help: 'Calls to modules in other processes by module, operation (proxy: the gateway facade) and outcome',
      labelNames: ['module', 'operation', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    remoteBreaker: new Gauge({ name: 'remote_breaker_state', help: 'Circuit breaker of each remote module: 0 closed, 1 open, 2 half-open', labelNames: ['module'] as const, registers: [registry] }),
    requestsShed: new Counter({ name: 'http_requests_shed_total', help: 'Requests refused with 429 by admission control, per route', labelNames: ['route'] as const, registers: [registry] }),
    eventsPurged: new Counter({
      name: 'event_rows_purged_total',
      help: 'Published outbox rows and inbox records deleted once older than the retention, per module and table',
      labelNames: ['module', 'table'] as const,
      registers: [registry],
    }),
  };
}
