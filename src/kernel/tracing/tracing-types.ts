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
