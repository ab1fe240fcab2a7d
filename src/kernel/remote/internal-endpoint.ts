import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CallContext } from '../context/call-context.js';
import { AppError } from '../errors/app-error.js';
import type { Metrics } from '../health/metrics.js';
import { requestIdOf } from '../http/request-context.js';
import { sendJson } from '../http/send-json.js';
import { parseOrThrow } from '../module/api-binding.js';
import type { ApiContract } from '../module/contract.js';
import { traceIdOf, traceparentOf } from '../tracing/tracing.js';
import type { ServiceTokenVerifier } from './service-token.js';

/** Largest body `POST /internal/<module>/<operation>` reads. */
export const INTERNAL_BODY_LIMIT = 1024 * 1024;

type Implementation = Record<string, (input: unknown, context: CallContext) => Promise<unknown>>;

export interface InternalEndpointOptions {
  /** The modules this process runs that offer an API: contract and implementation. */
  apis: ReadonlyMap<string, { contract: ApiContract; implementation: Implementation }>;
  /** Every module of the system, to tell "unknown" from "runs elsewhere". */
  known: ReadonlySet<string>;
  verifier: ServiceTokenVerifier;
  metrics: Metrics;
  logger: Logger;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const tooLarge = (limit: number) => new AppError('PAYLOAD_TOO_LARGE', 'HTTP.PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);

/**
 * The server half of the module APIs: `POST /internal/<module>/<operation>`
 * on the process that runs the module. It is a plain Node handler taken
 * before Express (the kit's own hot path: Express's router would cost every
 * call its layers). Order of checks: a valid token for the module the path
 * names (401), the module and operation served here (404), the caller's
 * declared dependency (403), the method (405), the body (415, 413, 400), then
 * the call; the answer is the operation's output as JSON, or
 * the error JSON with its status.
 *
 * @example
 * server.on('request', (req, res) => req.url.startsWith('/internal/') ? internal(req, res) : http(req, res));
 */
export function internalEndpoint(options: InternalEndpointOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { apis, known, verifier, metrics, logger } = options;
  // metrics.httpRoute keeps one handle per route: looking it up per call is a map lookup.
  const metricOf = (route: string) => metrics.httpRoute('POST', route);

  async function serve(req: IncomingMessage, res: ServerResponse, context: CallContext): Promise<string> {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const [, , module = '', operation = '', ...rest] = path.split('/');
    // The token first: a caller without a valid one learns nothing, not even which modules and operations are served here.
    const caller = await verifier.authenticate(req.headers.authorization, module);
    if (!known.has(module)) throw new AppError('NOT_FOUND', 'KERNEL.NOT_FOUND', `no module "${module}"`);
    const api = apis.get(module);
    if (!api) throw new AppError('NOT_FOUND', 'KERNEL.NOT_FOUND', `module ${module} offers no API in this process (it runs elsewhere, or has no API)`);
    if (rest.length > 0 || !Object.hasOwn(api.contract.operations, operation)) {
      throw new AppError('NOT_FOUND', `${module.toUpperCase()}.UNKNOWN_OPERATION`, `module ${module} has no operation "${operation}"`);
    }
    verifier.authorize(caller, module);
    const route = `/internal/${module}/${operation}`;
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      throw new AppError('METHOD_NOT_ALLOWED', 'HTTP.METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${route}; use POST`);
    }
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'HTTP.UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    const raw = await readBody(req, INTERNAL_BODY_LIMIT);
    let input: unknown;
    try {
      input = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new AppError('BAD_REQUEST', 'HTTP.MALFORMED_JSON', 'request body is not valid JSON');
    }
    const output = await api.implementation[operation]!(parseOrThrow(api.contract, operation, 'input', input), context);
    sendJson(res, 200, output ?? null);
    return route;
  }

  return function internalApi(req, res) {
    const started = performance.now();
    const correlationId = requestIdOf(req.headers['x-request-id']);
    res.setHeader('x-request-id', correlationId);
    // The server span's traceparent, set by the front handler when tracing is on.
    const traceparent = traceparentOf(req);
    serve(req, res, traceparent === undefined ? { correlationId } : { correlationId, traceparent }).then(
      (route) => metricOf(route).observe(res.statusCode, (performance.now() - started) / 1000),
      (error: unknown) => {
        const appError = AppError.from(error);
        if (appError.kind === 'INTERNAL') logger.error({ err: error, correlationId, ...(traceparent ? { trace_id: traceIdOf(traceparent) } : {}), url: req.url }, 'internal API call failed');
        // The rest of a refused body is not read: close the connection rather than drain it.
        if (appError.kind === 'PAYLOAD_TOO_LARGE') res.setHeader('connection', 'close');
        if (!res.headersSent) sendJson(res, appError.status, appError.toBody());
        else res.destroy();
        metricOf('/internal/:module/:operation').observe(res.statusCode, (performance.now() - started) / 1000);
      },
    );
  };
}
