import express, { type Request, type RequestHandler, type Router } from 'express';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import type { RouteDefinition } from './route.js';

export const DEFAULT_BODY_LIMIT = '100kb';

function validate(schema: z.ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return value;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new AppError('BAD_REQUEST', 'HTTP.INVALID_INPUT', `invalid request ${where}`, {
    details: result.error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join('.'), message: issue.message })),
  });
}

function requireJson(req: Request): void {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    throw new AppError('BAD_REQUEST', 'HTTP.MISSING_BODY', 'request body is required');
  }
  if (!req.is('application/json')) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'HTTP.UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
  }
}

function toHandler(definition: RouteDefinition): RequestHandler {
  return async function routeHandler(req, res) {
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
