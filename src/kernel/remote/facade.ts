import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { BrokenCircuitError } from 'cockatiel';
import { createProxyMiddleware, debugProxyErrorsPlugin, proxyEventsPlugin } from 'http-proxy-middleware';
import type { Logger } from 'pino';
import { AppError } from '../errors/app-error.js';
import type { Metrics } from '../health/metrics.js';
import { requestIdOf } from '../http/request-context.js';
import { sendJson } from '../http/send-json.js';
import { traceparentOf, type TraceSpan, type Tracing } from '../tracing/tracing.js';
import type { RemoteModule } from './remote-module.js';

/** Marks a request a facade has proxied; a second facade refuses it (508) instead of sending it round in a loop. */
export const FACADE_HEADER = 'x-mmk-proxied-by';

/** Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade'];

/** Removes the hop-by-hop headers, and those the `connection` header names, from a header object. */
function dropHopByHop(headers: Record<string, unknown>): void {
  const named = typeof headers.connection === 'string' ? headers.connection.split(',').map((h) => h.trim().toLowerCase()) : [];
  for (const name of [...HOP_BY_HOP, ...named]) if (name !== '') delete headers[name];
}

interface Pending {
  settle: (error?: Error) => void;
  /** The service's status code once it answered. */
  status: number;
  timedOut: boolean;
  /** The client span of the proxied request, when tracing is on. */
  span?: TraceSpan;
}

const PENDING = Symbol('mmk.facade');

/**
 * The strangler facade of one remote module: its public routes
 * (`/api/<module>/...`) proxied to its service by http-proxy-middleware, the
 * body streamed both ways, status, headers and `x-request-id` kept (one is
 * made when the client sent none). Hop-by-hop headers are dropped. No
 * connection, no answer within REMOTE_TIMEOUT_MS, or an open breaker give
 * `503 {error: {code: "<MODULE>.UNAVAILABLE"}}`; the facade shares the
 * module's breaker with its API client, and only these count against it: an
 * answer, whatever its status, shows that the service is there.
 *
 * @example
 * const proxy = createFacade({ remote, processId, metrics, logger });
 * server.on('request', (req, res) => isRouteOf(req, 'payments') ? proxy(req, res) : http(req, res));
 */
export function createFacade(options: { remote: RemoteModule; processId: string; metrics: Metrics; logger: Logger; tracing?: Tracing | undefined }): (req: IncomingMessage, res: ServerResponse) => void {
  const { remote, processId, metrics, logger, tracing } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 10_000 });
  const pendingOf = (req: IncomingMessage) => (req as unknown as Record<symbol, Pending | undefined>)[PENDING];
  const proxy = createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: remote.url,
    agent,
    // Without the logger plugin, which builds a URL and a log line for every answer even with no logger:
    // the facade's own metrics and warnings say what the gateway needs (docs/benchmarks.md).
    ejectPlugins: true,
    plugins: [debugProxyErrorsPlugin, proxyEventsPlugin],
    xfwd: true,
    proxyTimeout: remote.timeoutMs,
    on: {
      proxyReq(proxyReq, req) {
        proxyReq.once('timeout', () => {
          const pending = pendingOf(req);
          if (pending) pending.timedOut = true;
        });
      },
      proxyRes(proxyRes, req, res) {
        dropHopByHop(proxyRes.headers);
        // The proxy would add `connection: keep-alive`, overriding a connection that must close (a stopping process, a client's `close`).
        if (!res.shouldKeepAlive) proxyRes.headers.connection = 'close';
        // The client gets the request id it sent or the one made here, even from a service that does not echo it.
        proxyRes.headers['x-request-id'] ??= req.headers['x-request-id'];
        const pending = pendingOf(req);
        if (!pending) return;
        pending.status = proxyRes.statusCode ?? 0;
        // Any answer, a 5xx included, means the service is there: its breaker counts only calls that got no
        // answer. A 503 may be about a module the service itself calls; counting it would open this module's
        // breaker for another module's outage.
        pending.settle();
      },
      error(error, req, res) {
        const pending = pendingOf(req as IncomingMessage);
        // A client that went away is not a failure of the service.
        const clientGone = (res as ServerResponse).destroyed || (req as IncomingMessage).socket.destroyed;
        if (pending) pending.settle(clientGone && !pending.timedOut ? undefined : error);
      },
    },
  });

  function fail(req: IncomingMessage, res: ServerResponse, error: AppError): void {
    if (res.headersSent) {
      // The answer had started: cut it so the client sees it incomplete rather than a silent truncation.
      res.destroy();
      return;
    }
    if (!res.hasHeader('x-request-id')) res.setHeader('x-request-id', String(req.headers['x-request-id']));
    sendJson(res, error.status, error.toBody());
  }

  /** Records the outcome of one proxied request in the metrics, and answers 503 for one that got no answer. */
  function finish(req: IncomingMessage, res: ServerResponse, started: number, pending: Pending, error: unknown): void {
    let outcome: string;
    if (error === undefined) outcome = pending.status >= 500 ? 'failed' : 'ok';
    else if (error instanceof BrokenCircuitError) {
      outcome = 'open';
      fail(req, res, remote.unavailable('its circuit breaker is open after repeated failures'));
    } else if (pending.timedOut) {
      outcome = 'timeout';
      fail(req, res, remote.unavailable(`no answer within ${remote.timeoutMs} ms (REMOTE_TIMEOUT_MS)`));
    } else {
      outcome = 'unavailable';
      logger.warn({ err: error, module: remote.name, url: req.url }, 'proxying to a remote module failed');
      fail(req, res, remote.unavailable((error as Error).message ?? 'the connection failed'));
    }
    metrics.remoteCalls.observe({ module: remote.name, operation: 'proxy', outcome }, (performance.now() - started) / 1000);
    if (pending.span) {
      pending.span.setAttribute('mmk.outcome', outcome);
      if (pending.status !== 0) pending.span.setAttribute('http.response.status_code', pending.status);
      pending.span.end(outcome === 'ok' ? undefined : error ?? `answered ${pending.status}`);
    }
  }

  /**
   * The client span of a proxied request, child of the request's server span; the service gets it as
   * `traceparent`, so its own server span is this one's child.
   */
  function traceProxy(req: IncomingMessage): TraceSpan {
    const span = tracing!.startSpan(`proxy ${remote.name}`, 'client', traceparentOf(req), { 'http.request.method': req.method ?? 'GET', 'server.address': remote.url, 'mmk.module': remote.name });
    req.headers.traceparent = span.traceparent;
    return span;
  }

  /** Hands the request to the proxy; `settle` hears its outcome once: an answer, no answer, or the client gone. */
  function forward(req: IncomingMessage, res: ServerResponse, pending: Pending): void {
    (req as unknown as Record<symbol, Pending>)[PENDING] = pending;
    // Whatever happens (a client that hangs up mid-answer included), the breaker hears an outcome.
    res.once('close', () => pending.settle());
    proxy(req, res, (error?: unknown) => pending.settle(error instanceof Error ? error : new Error('proxy did not take the request')));
  }

  return function facade(req, res) {
    const started = performance.now();
    req.headers['x-request-id'] = requestIdOf(req.headers['x-request-id']);
    if (req.headers[FACADE_HEADER] !== undefined) {
      fail(req, res, new AppError('LOOP_DETECTED', 'KERNEL.PROXY_LOOP', `a request for module ${remote.name} was proxied twice: check that SERVICE_URL_${remote.name.toUpperCase()} points at the process that runs it`));
      return;
    }
    dropHopByHop(req.headers);
    req.headers[FACADE_HEADER] = processId;
    if (remote.breakerState === 'closed') {
      // The hot path: the breaker is closed, so the request goes through without a policy promise of its own, and its
      // outcome is counted exactly as breaker.execute would count it (RemoteModule.recordOutcome), a third of the
      // facade's CPU per request less (docs/benchmarks.md).
      let settled = false;
      const pending: Pending = {
        status: 0,
        timedOut: false,
        span: tracing === undefined ? undefined : traceProxy(req),
        settle(error) {
          if (settled) return;
          settled = true;
          remote.recordOutcome(error);
          finish(req, res, started, pending, error);
        },
      };
      forward(req, res, pending);
      return;
    }
    // Open or half-open: through the breaker itself, which fails the request at once while open and lets one trial
    // through when it may half-open (the others wait for the trial's outcome).
    const pending: Pending = { settle: () => undefined, status: 0, timedOut: false, span: tracing === undefined ? undefined : traceProxy(req) };
    remote.breaker
      .execute(
        () =>
          new Promise<void>((resolve, reject) => {
            pending.settle = (error) => (error ? reject(error) : resolve());
            forward(req, res, pending);
          }),
      )
      .then(
        () => finish(req, res, started, pending, undefined),
        (error: unknown) => finish(req, res, started, pending, error),
      );
  };
}
