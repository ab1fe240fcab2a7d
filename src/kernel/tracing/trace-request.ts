import type { IncomingMessage, ServerResponse } from 'node:http';
import { TRACEPARENT, type Tracing } from './tracing.js';

/**
 * Starts the server span of an incoming request, child of the `traceparent`
 * header when the caller sent one, and ends it when the answer is done. The
 * span's own `traceparent` is kept on the request (`traceparentOf`) for the
 * call context, the facade and the internal API. `route` names the span:
 * a pattern, never the raw URL; a function is read when the answer is done
 * (an Express route is known only then).
 *
 * @example
 * if (tracing) traceRequest(tracing, req, res, '/internal/catalog/priceItems');
 */
export function traceRequest(tracing: Tracing, req: IncomingMessage, res: ServerResponse, route: string | (() => string)): void {
  const header = req.headers.traceparent;
  const method = req.method ?? 'GET';
  const span = tracing.startSpan(method, 'server', typeof header === 'string' ? header : undefined, { 'http.request.method': method });
  (req as IncomingMessage & { [TRACEPARENT]?: string })[TRACEPARENT] = span.traceparent;
  res.once('close', () => {
    const pattern = typeof route === 'string' ? route : route();
    span.updateName(`${method} ${pattern}`);
    span.setAttribute('http.route', pattern);
    span.setAttribute('http.response.status_code', res.statusCode);
    const id = res.getHeader('x-request-id');
    if (typeof id === 'string') span.setAttribute('mmk.correlation_id', id);
    span.end(res.statusCode >= 500 ? `answered ${res.statusCode}` : res.writableFinished ? undefined : 'connection closed before the answer was complete');
  });
}
