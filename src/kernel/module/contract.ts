import type { z } from 'zod';
import type { CallContext } from '../context/call-context.js';

/**
 * An event a module publishes: a name (namespaced by the module), a version
 * and the zod schema its payload must match on publish. A version above 1 may
 * say how it follows the version before it (`from`, see `EventVersionStep`),
 * so that publishers and consumers of the event can be deployed in any order.
 *
 * @example
 * export const OrderPlaced = defineEvent('orders.OrderPlaced', 1, z.object({ orderId: z.string() }));
 */
export interface EventDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly version: number;
  readonly schema: S;
  /**
   * How this version follows version `version - 1`, whose definition holds
   * its own `from`: the chain of a definition is its version history. Absent
   * on a first version, and on a version whose older ones are served no more
   * (an older event that reaches a consumer then is dead-lettered, naming the
   * missing upcaster).
   */
  readonly from?: EventVersionStep<z.ZodType, S>;
}

/**
 * One step of an event's version history: version n (the definition that
 * holds it) from version n - 1 (`previous`). Each function covers one
 * direction of one step, and steps chain (v1 → v2 → v3 and back):
 *
 * - `upcast` goes UP, v(n-1) → vn. Used on the consuming side: the kernel of
 *   a process whose consumer reads vn applies it (chained, step by step) to
 *   an older event that reaches it, from an outbox, a queue or a dead letter
 *   written before the publisher moved to vn. Required: a version bump must
 *   keep its older events readable.
 * - `downcast` goes DOWN, vn → v(n-1). Used on the publishing side: the relay
 *   of the publisher applies it (chained) to every vn event it hands to the
 *   bus, and the event travels with its payload at each older version so
 *   reached (`EventEnvelope.downcasts`), so that a consumer still reading
 *   v(n-1), whose code knows nothing of vn, gets a payload it reads. Required
 *   while any consumer in the system reads v(n-1): start-up refuses a
 *   consumer whose version the publisher's current definition cannot reach,
 *   and `contracts:check` a bump that leaves it uncovered. Drop it (and then
 *   `upcast` and `previous`) once no consumer reads v(n-1).
 *
 * Both take the payload as the source version's schema outputs it and return
 * what the target version's schema accepts; the kernel validates both sides.
 * They must be pure: they run again on each delivery, replay and relay round.
 *
 * @example
 * const MessageSentV1 = defineEvent('sender.MessageSent', 1, z.object({ messageId: z.uuid(), text: z.string() }));
 * export const MessageSent = defineEvent('sender.MessageSent', 2, z.object({ messageId: z.uuid(), body: z.object({ text: z.string(), lang: z.string() }) }), {
 *   previous: MessageSentV1,
 *   upcast: (v1) => ({ messageId: v1.messageId, body: { text: v1.text, lang: 'en' } }), // v1 → v2, on consume
 *   downcast: (v2) => ({ messageId: v2.messageId, text: v2.body.text }), // v2 → v1, on publish, while a consumer reads v1
 * });
 */
export interface EventVersionStep<P extends z.ZodType = z.ZodType, S extends z.ZodType = z.ZodType> {
  /** The definition of version n - 1, same name. */
  readonly previous: EventDefinition<P>;
  /** UP, v(n-1) → vn: applied on consume to older events. */
  upcast(payload: z.output<P>): z.input<S>;
  /** DOWN, vn → v(n-1): applied on publish while a consumer still reads v(n-1). */
  downcast?(payload: z.output<S>): z.input<P>;
}

/**
 * Defines an event version; `from` links it to the version before it. Throws
 * at once (module load, so start-up) on a version that is not a positive
 * integer, or a `from.previous` of another name or not exactly one version
 * lower.
 */
export function defineEvent<S extends z.ZodType, P extends z.ZodType = z.ZodType>(name: string, version: number, schema: S, from?: EventVersionStep<P, S>): EventDefinition<S> {
  if (!Number.isInteger(version) || version < 1) throw new Error(`event ${name}: version must be a positive integer, got ${version}`);
  if (!from) return { name, version, schema };
  const { previous } = from;
  if (previous.name !== name || previous.version !== version - 1) {
    throw new Error(`event ${name}@${version}: from.previous must be ${name}@${version - 1}, got ${previous.name}@${previous.version}`);
  }
  if (typeof from.upcast !== 'function') throw new Error(`event ${name}@${version}: from.upcast (v${version - 1} → v${version}) is missing`);
  return { name, version, schema, from: from as EventVersionStep<z.ZodType, S> };
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
