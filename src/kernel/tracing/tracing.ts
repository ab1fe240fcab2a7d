import type { Logger } from 'pino';

/** The kinds of span the kit makes: OpenTelemetry's `SpanKind`, by name. */
export type SpanKindName = 'server' | 'client' | 'producer' | 'consumer' | 'internal';

export type SpanAttributes = Record<string, string | number | boolean>;

/** One span in progress. */
export interface TraceSpan {
  /** This span as a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`): the parent of the work it causes. */
  readonly traceparent: string;
  setAttribute(key: string, value: string | number | boolean): void;
  updateName(name: string): void;
  /** Ends the span; an error (or a message) marks it failed. */
  end(error?: unknown): void;
}

/**
 * The kit's tracer: starts spans whose parent is given explicitly as a
 * `traceparent` string. The kit carries that string in its call context, its
 * HTTP headers and its event envelopes, rather than in OpenTelemetry's
 * context manager, whose AsyncLocalStorage costs every promise of the process
 * on Node 20 (ADR 0006, ADR 0016).
 *
 * @example
 * const span = tracing.startSpan('catalog.priceItems', 'client', context.traceparent);
 * headers.traceparent = span.traceparent;
 * try { ... } finally { span.end(); }
 */
export interface Tracing {
  readonly serviceName: string;
  startSpan(name: string, kind: SpanKindName, parent: string | undefined, attributes?: SpanAttributes): TraceSpan;
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL; spans go to `<endpoint>/v1/traces`. Unset: no tracing. */
  endpoint: string | undefined;
  serviceName: string;
  /** Where export failures are reported. */
  logger: Logger;
}

/**
 * The process's tracing, or undefined when `OTEL_EXPORTER_OTLP_ENDPOINT` is
 * unset. The OpenTelemetry SDK is imported only when it is set: a process
 * without tracing does not load it, and every seam of the kit then pays one
 * `undefined` check (docs/benchmarks.md).
 *
 * @example
 * const tracing = await startTracing({ endpoint: config.otelEndpoint, serviceName: 'shop', logger });
 */
export async function startTracing(options: TracingOptions): Promise<Tracing | undefined> {
  if (options.endpoint === undefined) return undefined;
  const { createOtelTracing } = await import('./otel-tracing.js');
  return createOtelTracing({ ...options, endpoint: options.endpoint });
}

/** The trace id of a `traceparent`, for log lines (`trace_id`). */
export function traceIdOf(traceparent: string): string {
  return traceparent.slice(3, 35);
}

/** Where the kit keeps the server span's `traceparent` on an incoming request (see traceRequest). */
export const TRACEPARENT = Symbol.for('mmk.traceparent');

/** The `traceparent` of the server span of a request, when tracing is on. */
export function traceparentOf(req: object): string | undefined {
  return (req as { [TRACEPARENT]?: string })[TRACEPARENT];
}
