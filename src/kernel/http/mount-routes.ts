import express, { type Express, type Request, type RequestHandler } from 'express';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import type { RouteDefinition } from './route.js';
import { enterRoute, type ResponseRecorder } from './request-context.js';
import { sendJson } from './send-json.js';
import type { HttpRouteMetric } from '../health/metrics.js';

export const DEFAULT_BODY_LIMIT = '100kb';

function invalid(where: string, details: Array<{ path: string; message: string }>): AppError {
  return new AppError('BAD_REQUEST', 'HTTP.INVALID_INPUT', `invalid request ${where}`, { details });
}

/**
 * The path of the first string (value or key) holding U+0000, which no
 * PostgreSQL text column can store: such input is a 400, not a database 500.
 * Iterative, so no nesting depth can overflow the stack.
 */
function findNulCharacter(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? [] : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  // Only objects go on the stack; strings are checked in place and a path is
  // built only for the offending one, so a clean flat object allocates little.
  const stack: Array<{ value: object; path: string[] }> = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    for (const key of Object.keys(current)) {
      if (key.includes('\u0000')) return [...path, key];
      const child = (current as Record<string, unknown>)[key];
      if (typeof child === 'string') {
        if (child.includes('\u0000')) return [...path, key];
      } else if (child !== null && typeof child === 'object') {
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return undefined;
}

function validate(schema: z.ZodType, value: unknown, where: string): unknown {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw invalid(
      where,
      result.error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join('.'), message: issue.message })),
    );
  }
  const nulAt = findNulCharacter(result.data);
  if (nulAt) throw invalid(where, [{ path: [where, ...nulAt].join('.'), message: 'must not contain the NUL character (U+0000)' }]);
  return result.data;
}

function requireJson(req: Request): void {
  const length = req.headers['content-length'];
  // A POST without a body still carries `content-length: 0` from most clients.
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) {
    throw new AppError('BAD_REQUEST', 'HTTP.MISSING_BODY', 'request body is required');
  }
  if (!req.is('application/json')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'HTTP.UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
  }
}

/**
 * A route as the handler runs it: every definition in one shape, so the
 * shared handler code sees one hidden class instead of one per route shape.
 */
interface MountedRoute {
  label: string;
  metric: HttpRouteMetric;
  params: z.ZodType | null;
  query: z.ZodType | null;
  body: z.ZodType | null;
  headers: z.ZodType | null;
  handler: RouteDefinition['handler'];
}

function toHandler(route: MountedRoute, recorder: ResponseRecorder): RequestHandler {
  // Not `async`: one promise per request fewer. Express sends a synchronous
  // throw (invalid input) and a rejection alike to the error handler.
  return function routeHandler(req, res) {
    // Labelled first, for the error handler's metrics too should anything fail.
    const state = enterRoute(req, res, route.label);
    if (route.body) requireJson(req);
    // `req.query` parses the query string when read: only routes with a query schema pay for it.
    const params = route.params ? validate(route.params, req.params, 'params') : req.params;
    const query = route.query ? validate(route.query, req.query, 'query') : undefined;
    const body = route.body ? validate(route.body, req.body, 'body') : undefined;
    const headers = route.headers ? validate(route.headers, req.headers, 'headers') : undefined;
    return route.handler({ params, query, body, headers, context: state.context } as never).then((result) => {
      sendJson(res, result.status, result.body);
      recorder.record(req, res, route.metric);
    });
  };
}

/** Admission control as the routes see it (AdmissionGate): whether to refuse a request that starts work. */
export interface Admission {
  /** Undefined to take the request; else the seconds for `Retry-After`. */
  refusal(): number | undefined;
  /** Told of every refused request, by route pattern. */
  onShed(route: string): void;
}

/**
 * The first handler of a route that starts work: refuses the request with
 * 429 `KERNEL.OVERLOADED` and `Retry-After` while the work behind it lags,
 * before the body is read, so a refusal costs next to nothing.
 */
function admissionHandler(route: MountedRoute, admission: Admission, recorder: ResponseRecorder): RequestHandler {
  return function admit(req, res, next) {
    const retryAfter = admission.refusal();
    if (retryAfter === undefined) return next();
    enterRoute(req, res, route.label);
    res.setHeader('retry-after', String(retryAfter));
    sendJson(res, 429, new AppError('TOO_MANY_REQUESTS', 'KERNEL.OVERLOADED', `the work behind ${route.label} lags; retry in ${retryAfter} s`, { details: { retryAfterSeconds: retryAfter } }).toBody());
    recorder.record(req, res, route.metric);
    admission.onShed(route.label);
  };
}

/**
 * Registers a module's routes under `prefix` (`/api/<module>`), each
 * validated against its schemas. Straight on the app, not through a router
 * per module: a nested router costs every request a second round of matching.
 * Routes that start work pass admission control first (`admission`).
 *
 * @example
 * mountRoutes(app, '/api/catalog', catalogRoutes, recorder, admission);
 */
export function mountRoutes(app: Express, prefix: string, routes: readonly RouteDefinition[], recorder: ResponseRecorder, admission?: Admission): void {
  const json = express.json({ limit: DEFAULT_BODY_LIMIT, strict: true });
  for (const definition of routes) {
    // A module's `/` answers at `/api/orders` and `/api/orders/`, as a module router would.
    const label = definition.path === '/' ? prefix : `${prefix}${definition.path}`;
    const paths = definition.path === '/' ? [prefix, `${prefix}/`] : [label];
    const route: MountedRoute = {
      label,
      metric: recorder.route(definition.method.toUpperCase(), label),
      params: definition.params ?? null,
      query: definition.query ?? null,
      body: definition.body ?? null,
      headers: definition.headers ?? null,
      handler: definition.handler,
    };
    const handlers: RequestHandler[] = [];
    if (definition.startsWork && admission) handlers.push(admissionHandler(route, admission, recorder));
    if (definition.body) {
      // Labelled before the body is parsed, so a malformed body is counted under its route.
      const labelRoute: RequestHandler = (req, res, next) => {
        enterRoute(req, res, route.label);
        next();
      };
      handlers.push(labelRoute, json);
    }
    app[definition.method](paths, ...handlers, toHandler(route, recorder));
  }
}
