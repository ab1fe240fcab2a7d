import express, { type Request, type RequestHandler, type Router } from 'express';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import type { RouteDefinition } from './route.js';

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
  const stack: Array<{ value: unknown; path: string[] }> = [{ value, path: [] }];
  while (stack.length > 0) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      if (current.includes('\u0000')) return path;
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        if (key.includes('\u0000')) return [...path, key];
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return undefined;
}

function validate(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
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

function toHandler(definition: RouteDefinition): RequestHandler {
  return async function routeHandler(req, res) {
    // Kept for the metrics label: the router resets req.baseUrl once an error leaves it.
    res.locals.route = `${req.baseUrl}${definition.path}`;
    if (definition.body) requireJson(req);
    const params = validate(definition.params, req.params, 'params');
    const query = validate(definition.query, req.query, 'query');
    const body = validate(definition.body, req.body, 'body');
    const result = await definition.handler({ params, query, body } as never);
    res.status(result.status).json(result.body);
  };
}

/**
 * A router with a module's routes, each validated against its schemas.
 *
 * @example
 * app.use('/api/catalog', mountRoutes(catalogRoutes));
 */
export function mountRoutes(routes: readonly RouteDefinition[]): Router {
  const router = express.Router({ strict: true });
  const json = express.json({ limit: DEFAULT_BODY_LIMIT, strict: true });
  for (const definition of routes) {
    const handlers: RequestHandler[] = definition.body ? [json, toHandler(definition)] : [toHandler(definition)];
    router[definition.method](definition.path, ...handlers);
  }
  return router;
}
