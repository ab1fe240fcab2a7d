import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { CallContext } from '../context/call-context.js';
import type { HttpRouteMetric, Metrics } from '../health/metrics.js';
import { traceparentOf } from '../tracing/tracing.js';

const ACCEPTED_ID = /^[\w.:-]{1,128}$/;

/** What the kit keeps about one request, in one object (`res.locals` is a slow dictionary). */
export interface RequestState {
  /** `performance.now()` when the kit first took the request. */
  readonly startedAt: number;
  readonly context: CallContext;
  /** The pattern of the route that took the request, once one did (the metrics label). */
  route: string | undefined;
}

const STATE = 'mmkRequest';

const COUNTER_LIMIT = 16 ** 12;
let idHead = '';
let idCounter = COUNTER_LIMIT;

/**
 * A new request id in UUID v4 form: a random head per process (74 random
 * bits, drawn again every 2^48 ids) and a counter. Unique like a random UUID for
 * correlation, at a fraction of `randomUUID()`'s cost on the request path;
 * unlike a random UUID it is guessable, so it must never serve as a secret.
 */
export function newRequestId(): string {
  if (idCounter >= COUNTER_LIMIT) {
    const hex = randomBytes(10).toString('hex');
    // xxxxxxxx-xxxx-4xxx-[89ab]xxx-: version 4, variant 10xx.
    const variant = ((parseInt(hex[15]!, 16) & 0x3) | 0x8).toString(16);
    idHead = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(12, 15)}-${variant}${hex.slice(16, 19)}-`;
    idCounter = 0;
  }
  return idHead + (idCounter++).toString(16).padStart(12, '0');
}

/**
 * The request id a request carries in `x-request-id` when it is usable
 * (1–128 letters, digits and `_ . : -`), else a new one.
 *
 * @example
 * const correlationId = requestIdOf(req.headers['x-request-id']);
 */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && ACCEPTED_ID.test(given) ? given : newRequestId();
}

/**
 * The kit's state of this request, made on first use: takes the request id
 * from `x-request-id` (or makes one), echoes it and keeps it as the request's
 * correlation id (with the request's span when tracing is on), and notes when the kit first saw the request. The kit calls
 * it where it takes a request (a route, the 404 and error handlers, /health,
 * /metrics) instead of in a middleware in front of everything: each layer
 * Express walks costs every request a match and a `next()`.
 */
export function requestStateOf(req: Request, res: Response): RequestState {
  const locals = res.locals;
  let state = locals[STATE] as RequestState | undefined;
  if (state === undefined) {
    const startedAt = performance.now();
    const correlationId = requestIdOf(req.headers['x-request-id']);
    if (!res.headersSent) res.setHeader('x-request-id', correlationId);
    // The server span's traceparent, set by the front handler when tracing is on.
    const traceparent = traceparentOf(req);
    state = { startedAt, context: traceparent === undefined ? { correlationId } : { correlationId, traceparent }, route: undefined };
    locals[STATE] = state;
  }
  return state;
}

/**
 * Notes that the route `label` took the request (the metrics label, also when
 * the request fails later) and returns the request's state.
 */
export function enterRoute(req: Request, res: Response, label: string): RequestState {
  const state = requestStateOf(req, res);
  state.route = label;
  return state;
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
    // Read, not made: every kit handler makes the state before it answers, so the
    // answer carries its x-request-id; a missing state shows as a 0 ms duration.
    const state = res.locals[STATE] as RequestState | undefined;
    const ms = state ? performance.now() - state.startedAt : 0;
    metric.observe(res.statusCode, ms / 1000);
    // A line per request at `info` would cost a visible share of throughput;
    // failures are logged at `warn`/`error` by the error handler.
    if (logger.isLevelEnabled('debug')) {
      logger.debug({ correlationId: state?.context.correlationId, method: req.method, url: req.originalUrl, route: metric.route, status: res.statusCode, ms }, 'request');
    }
  };
  return {
    route: (method, route) => metrics.httpRoute(method, route),
    record,
    recordAs: (req, res, route) => record(req, res, metrics.httpRoute(req.method, route)),
  };
}
