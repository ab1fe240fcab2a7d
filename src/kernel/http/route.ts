import type { z } from 'zod';
import type { CallContext } from '../context/call-context.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What a route handler returns: the status and the JSON body. */
export interface RouteResult {
  status: number;
  body: unknown;
}

/**
 * A public HTTP route of a module, mounted under `/api/<module>`. Params,
 * query and body are validated with zod before the handler runs; anything
 * invalid is a 400 with the issues.
 *
 * @example
 * route({ method: 'get', path: '/products/:id', params: z.object({ id: z.uuid() }),
 *   handler: async ({ params }) => ({ status: 200, body: await api.getProduct(params) }) });
 */
export interface RouteDefinition<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  H extends z.ZodType = z.ZodType,
> {
  method: HttpMethod;
  path: string;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The request headers the handler reads, by their lower-case names, e.g.
   * `z.object({ 'idempotency-key': IdempotencyKey.optional() })`: a loose
   * object, since every request carries others. Invalid is a 400 like the rest.
   */
  headers?: H;
  /**
   * The route starts asynchronous work (it publishes events that other
   * handlers must process). While that work lags past `ADMISSION_MAX_LAG_MS`,
   * the kit refuses it with 429 and `Retry-After` before the body is even read
   * (ADR 0009). Reads never set this.
   */
  startsWork?: boolean;
  /**
   * Gets the validated input and the request's `context`: pass the context on
   * to the API calls and the transaction the request starts, so the events it
   * causes carry the request's correlation id.
   */
  handler(input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; headers: z.output<H>; context: CallContext }): Promise<RouteResult>;
}

export function route<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType, H extends z.ZodType = z.ZodType>(
  definition: RouteDefinition<P, Q, B, H>,
): RouteDefinition {
  return definition as unknown as RouteDefinition;
}
