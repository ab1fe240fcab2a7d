import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { currentCorrelationId } from '../logging/logger.js';

/**
 * One log line per request, with its correlation id (from the logger's
 * mixin). At `debug`, because a line per request at `info` costs a visible
 * share of throughput; failures are logged at `warn`/`error` by the error handler.
 *
 * @example
 * app.use(requestLogger(logger));
 */
export function requestLogger(logger: Logger): RequestHandler {
  return function requestLoggerMiddleware(req, res, next) {
    if (!logger.isLevelEnabled('debug')) return next();
    const start = process.hrtime.bigint();
    // Taken now: 'finish' fires outside the request's async context.
    const correlationId = currentCorrelationId();
    res.once('finish', () => {
      logger.debug({ correlationId, method: req.method, url: req.originalUrl, status: res.statusCode, ms: Number(process.hrtime.bigint() - start) / 1e6 }, 'request');
    });
    next();
  };
}
