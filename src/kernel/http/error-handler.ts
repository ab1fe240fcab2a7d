import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { AppError, kindOfStatus } from '../errors/app-error.js';
import { requestStateOf, type ResponseRecorder } from './request-context.js';
import { sendJson } from './send-json.js';
import { traceIdOf } from '../tracing/tracing.js';

/** The metrics label of requests no route matched. */
const UNMATCHED = 'unmatched';

/** body-parser errors carry a `type`; these become client errors, not 500s. */
function fromBodyParser(error: { type?: string; message?: string }): AppError | undefined {
  switch (error.type) {
    case 'entity.parse.failed':
      return new AppError('BAD_REQUEST', 'HTTP.MALFORMED_JSON', 'request body is not valid JSON');
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'HTTP.PAYLOAD_TOO_LARGE', 'request body is too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'HTTP.UNSUPPORTED_ENCODING', error.message ?? 'unsupported encoding');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new AppError('BAD_REQUEST', 'HTTP.BAD_BODY', error.message ?? 'unreadable request body');
    default:
      return undefined;
  }
}

interface HttpLikeError {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  code?: unknown;
  message?: unknown;
}

/**
 * Errors of Express, its router and body parser that carry a 4xx `status`
 * (http-errors style) are the client's fault: a path that is not valid
 * percent-encoding, a body that does not decompress. Never a 500.
 */
function fromClientStatus(error: unknown): AppError | undefined {
  if (error === null || typeof error !== 'object' || error instanceof AppError) return undefined;
  const { status = (error as HttpLikeError).statusCode, expose, code, message } = error as HttpLikeError;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 499) return undefined;
  if (error instanceof URIError) {
    return new AppError('BAD_REQUEST', 'HTTP.MALFORMED_URL', 'request path is not valid percent-encoding');
  }
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new AppError('BAD_REQUEST', 'HTTP.BAD_BODY', 'request body could not be decompressed');
  }
  const kind = kindOfStatus(status) ?? 'BAD_REQUEST';
  const text = expose === true && typeof message === 'string' && message ? message : 'request rejected';
  return new AppError(kind, `HTTP.${kind}`, text);
}

/**
 * The one place errors become responses: AppErrors by their kind, anything
 * unknown as 500 `KERNEL.INTERNAL` with the cause logged and never sent.
 *
 * @example
 * app.use(errorHandler(logger, recorder));
 */
export function errorHandler(logger: Logger, recorder: ResponseRecorder): ErrorRequestHandler {
  return function errorHandlerMiddleware(error: unknown, req, res, next) {
    if (res.headersSent) return next(error);
    const state = requestStateOf(req, res);
    const appError = fromBodyParser((error ?? {}) as { type?: string }) ?? fromClientStatus(error) ?? AppError.from(error);
    if (appError.status >= 500) {
      const { correlationId, traceparent } = state.context;
      const fields = { correlationId, ...(traceparent ? { trace_id: traceIdOf(traceparent) } : {}), method: req.method, url: req.originalUrl };
      if (appError.kind === 'INTERNAL') logger.error({ err: appError.cause ?? appError, ...fields }, 'request failed');
      else logger.warn({ err: appError, ...fields }, 'request failed');
    }
    sendJson(res, appError.status, appError.toBody());
    recorder.recordAs(req, res, state.route ?? UNMATCHED);
  };
}

/** Unknown paths answer with the error JSON too. */
export function notFoundHandler(recorder: ResponseRecorder): RequestHandler {
  return function notFound(req, res) {
    requestStateOf(req, res);
    sendJson(res, 404, new AppError('NOT_FOUND', 'HTTP.ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`).toBody());
    recorder.recordAs(req, res, UNMATCHED);
  };
}
