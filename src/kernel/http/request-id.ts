import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { runWithContext } from '../logging/logger.js';

const ACCEPTED_ID = /^[\w.:-]{1,128}$/;

/**
 * Takes the request id from `x-request-id` (or makes one), echoes it, and runs
 * the rest of the request with it as the correlation id of logs and events.
 *
 * @example
 * app.use(requestId());
 */
export function requestId(): RequestHandler {
  return function requestIdMiddleware(req, res, next) {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && ACCEPTED_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    runWithContext({ correlationId: id }, next);
  };
}
