import type { Tracing, TracingOptions } from './tracing-types.js';

export type { SpanAttributes, SpanKindName, TraceSpan, Tracing, TracingOptions } from './tracing-types.js';

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
