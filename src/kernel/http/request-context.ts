import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { CallContext } from '../context/call-context.js';
import type { HttpRouteMetric, Metrics } from '../health/metrics.js';

const ACCEPTED_ID = /^[\w.:-]{1,128}$/;

/** What the kit keeps about one request, in one object (`res.locals` is a slow dictionary). */
export interface RequestState {
  /** `performance.now()` when the request reached the kit. */
  readonly startedAt: number;
  readonly context: CallContext;
  /** The pattern of the route that took the request, once one did (the metrics label). */
  route: string | undefined;
}

const STATE = 'mmkRequest';

/** The kit's state of this request, as set by `requestContext()`. */
export function requestStateOf(res: Response): RequestState | undefined {
  return res.locals[STATE] as RequestState | undefined;
}

/**
 * Notes that the route `label` took the request (the metrics label, also when
 * the request fails later) and returns the request's state.
 */
export function enterRoute(res: Response, label: string): RequestState | undefined {
  const state = requestStateOf(res);
  if (state) state.route = label;
  return state;
}

/** The request's context, as set by `requestContext()`. */
export function callContextOfRequest(res: Response): CallContext {
  return requestStateOf(res)?.context ?? { correlationId: 'none' };
}

/** The request's correlation id (`x-request-id`), as set by `requestContext()`. */
export function correlationIdOf(res: Response): string {
  return callContextOfRequest(res).correlationId;
}

/**
 * The kit's one middleware in front of every route: takes the request id from
 * `x-request-id` (or makes one), echoes it and keeps it as the request's
 * correlation id, and notes when the request arrived. No listener and no
 * async context: module routes pay little on top of Express.
 *
 * @example
 * app.use(requestContext());
 */
export function requestContext(): RequestHandler {
  return function requestContextMiddleware(req, res, next) {
    const startedAt = performance.now();
    const given = req.headers['x-request-id'];
    const correlationId = typeof given === 'string' && ACCEPTED_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', correlationId);
    const state: RequestState = { startedAt, context: { correlationId }, route: undefined };
    res.locals[STATE] = state;
    next();
  };
}

/**
 * Records a response the kit has just sent: its duration in the metrics
 * (labelled by route pattern, never the raw URL) and, at `debug`, one log
 * line. Every response the kit writes (routes, errors, 404, /health,
 * /metrics) goes through it.
 */
export interface ResponseRecorder {
  /** The metric of a fixed route: resolve it once, when the route is mounted. */
  route(method: string, route: string): HttpRouteMetric;
  record(req: Request, res: Response, metric: HttpRouteMetric): void;
  /** For responses whose route is known only now (errors, 404). */
  recordAs(req: Request, res: Response, route: string): void;
}

export function responseRecorder({ logger, metrics }: { logger: Logger; metrics: Metrics }): ResponseRecorder {
  const record = (req: Request, res: Response, metric: HttpRouteMetric) => {
    const state = requestStateOf(res);
    const ms = state ? performance.now() - state.startedAt : 0;
    metric.observe(res.statusCode, ms / 1000);
    // A line per request at `info` would cost a visible share of throughput;
    // failures are logged at `warn`/`error` by the error handler.
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ correlationId: correlationIdOf(res), method: req.method, url: req.originalUrl, route: metric.route, status: res.statusCode, ms }, 'request');
    }
  };
  return {
    route: (method, route) => metrics.httpRoute(method, route),
    record,
    recordAs: (req, res, route) => record(req, res, metrics.httpRoute(req.method, route)),
  };
}
