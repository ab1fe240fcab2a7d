import { DiagLogLevel, ROOT_CONTEXT, SpanKind, SpanStatusCode, diag, trace, type Span } from '@opentelemetry/api';
import { parseTraceParent } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { SpanKindName, TraceSpan, Tracing, TracingOptions } from './tracing-types.js';

const KINDS: Record<SpanKindName, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};

class OtelSpan implements TraceSpan {
  readonly traceparent: string;
  readonly #span: Span;

  constructor(span: Span) {
    this.#span = span;
    const { traceId, spanId, traceFlags } = span.spanContext();
    this.traceparent = `00-${traceId}-${spanId}-0${(traceFlags & 1).toString(16)}`;
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.#span.setAttribute(key, value);
  }

  updateName(name: string): void {
    this.#span.updateName(name);
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof Error) this.#span.recordException(error);
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message });
    }
    this.#span.end();
  }
}

/**
 * Tracing with the OpenTelemetry SDK: a tracer provider of its own (not
 * registered globally, and with no context manager: the kit hands parents
 * over explicitly), a batch span processor (`OTEL_BSP_*` settings apply) and
 * the OTLP/HTTP JSON exporter to `<endpoint>/v1/traces`. Loaded only when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see startTracing).
 */
export function createOtelTracing(options: TracingOptions & { endpoint: string }): Tracing {
  const { logger, serviceName } = options;
  // The exporter reports failed exports (an unreachable collector) through the API's diagnostics logger.
  diag.setLogger(
    {
      error: (message, ...args) => logger.warn({ otel: args }, `OpenTelemetry: ${message}`),
      warn: (message, ...args) => logger.warn({ otel: args }, `OpenTelemetry: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` }))],
  });
  const tracer = provider.getTracer('modular-monolith-kit');
  return {
    serviceName,
    startSpan(name, kind, parent, attributes) {
      const parentContext = parent === undefined ? undefined : parseTraceParent(parent);
      const context = parentContext ? trace.setSpanContext(ROOT_CONTEXT, { ...parentContext, isRemote: true }) : ROOT_CONTEXT;
      return new OtelSpan(tracer.startSpan(name, { kind: KINDS[kind], ...(attributes ? { attributes } : {}) }, context));
    },
    async shutdown() {
      await provider.shutdown();
    },
  };
}
