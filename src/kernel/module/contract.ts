import type { z } from 'zod';
import type { CallContext } from '../context/call-context.js';

/**
 * An event a module publishes: a name (namespaced by the module), a version
 * and the zod schema its payload must match on publish.
 *
 * @example
 * export const OrderPlaced = defineEvent('orders.OrderPlaced', 1, z.object({ orderId: z.string() }));
 */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly version: number;
  readonly schema: S;
}

export function defineEvent<S extends z.ZodType>(name: string, version: number, schema: S): EventDefinition<S> {
  return { name, version, schema };
}

/** The payload type of an event definition or subscription. */
export type PayloadOf<E extends { schema: z.ZodType }> = z.output<E['schema']>;

/** One named API operation: zod schemas for its input and its output. */
export interface OperationDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly input: I;
  readonly output: O;
  /**
   * True when calling it twice has the effect of calling it once (a read, or a
   * write keyed by the caller). Only such operations are retried when a remote
   * call fails before an answer arrives; the others fail at once, since the
   * first attempt may have done its work.
   */
  readonly idempotent?: boolean;
}

export type Operations = Record<string, OperationDefinition>;

/**
 * A module's synchronous API as run-time data: the operations and the DI
 * token other modules inject. The kernel binds the token to the local
 * implementation or to a client (JSON, HTTP) built from the same schemas.
 *
 * @example
 * export const catalogApi = defineApi('catalog', { getProduct: { input: z.object({ id: z.uuid() }), output: Product } });
 * export type CatalogApi = ApiOf<typeof catalogApi>;
 */
export interface ApiContract<O extends Operations = Operations> {
  readonly module: string;
  readonly token: symbol;
  readonly operations: O;
}

export function defineApi<O extends Operations>(module: string, operations: O): ApiContract<O> {
  return { module, token: Symbol.for(`${module}.api`), operations };
}

/**
 * The TypeScript interface of an API contract: one async function per
 * operation. Callers pass their `CallContext` along, so work done on their
 * behalf (today in-process, later in another service) keeps their correlation id.
 */
export type ApiOf<C extends ApiContract> = {
  [K in keyof C['operations']]: (
    input: z.input<C['operations'][K]['input']>,
    context?: CallContext,
  ) => Promise<z.output<C['operations'][K]['output']>>;
};

/**
 * An event a module consumes, named by publisher and version, read through
 * the consumer's own schema (a tolerant reader: it lists only the fields the
 * consumer needs). Consumers import no publisher code, so event flows never
 * create import cycles between modules (ADR 0002).
 *
 * @example
 * const OrderPlaced = consumes('orders.OrderPlaced', 1, z.object({ orderId: z.string() }));
 */
export interface EventSubscription<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly version: number;
  readonly schema: S;
}

export function consumes<S extends z.ZodType>(name: string, version: number, schema: S): EventSubscription<S> {
  return { name, version, schema };
}

/** The key of an event on a transport: `orders.OrderPlaced@1`. */
export function eventKey(event: { name: string; version: number }): string {
  return `${event.name}@${event.version}`;
}

/**
 * The contract half of a module: everything another process needs to know
 * about it without its code (ADR 0010). Callers compile against its API,
 * publishers route events to its consumers by it, the gateway proxies its
 * routes and the internal endpoint authorizes callers by its `dependsOn`.
 * Extraction moves a module's implementation and leaves this behind.
 *
 * @example
 * export const shippingContract = defineContract({
 *   name: 'shipping', events: [], dependsOn: [],
 *   consumes: { 'create-shipment': consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid() })) },
 * });
 */
export interface ModuleContract<C extends ApiContract | undefined = ApiContract | undefined> {
  /** Lower-case name: the schema, the route prefix `/api/<name>` and the event namespace. */
  readonly name: string;
  /** The module's synchronous API, if it offers one. */
  readonly api?: C;
  /** The events it publishes. */
  readonly events: readonly EventDefinition[];
  /**
   * The events it consumes, by handler name. Every process routes these
   * events to this module's handlers, also when the module runs elsewhere;
   * a module without it cannot run in another process.
   */
  readonly consumes?: Readonly<Record<string, EventSubscription>>;
  /** Modules whose API this module may call: also who may call whom between services. */
  readonly dependsOn: readonly string[];
}

export function defineContract<C extends ApiContract | undefined = undefined>(contract: ModuleContract<C>): ModuleContract<C> {
  return contract;
}
