import type { Logger } from 'pino';
import type { ModuleDb } from '../db/module-db.js';
import type { EventHandlerDefinition } from '../events/event-consumer.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { RetainedTable } from '../events/retention.js';
import type { RouteDefinition } from '../http/route.js';
import type { ApiContract, ApiOf, EventDefinition, EventSubscription } from './contract.js';

/** What the kernel hands a module when it sets it up. */
export interface ModuleContext {
  readonly name: string;
  readonly db: ModuleDb;
  readonly events: EventPublisher;
  readonly logger: Logger;
  /**
   * The API of another module, through whatever binding the topology chose.
   * Only modules listed in `dependsOn` may be asked for.
   */
  api<C extends ApiContract>(contract: C): ApiOf<C>;
}

/** What a module's setup returns: its API implementation, routes and event handlers. */
export interface ModuleParts<C extends ApiContract | undefined = ApiContract | undefined> {
  api?: C extends ApiContract ? ApiOf<C> : never;
  routes?: RouteDefinition[];
  handlers?: EventHandlerDefinition[];
  /**
   * Tables of the module's own whose rows the kit deletes, like published
   * events, once the time in `column` is older than `EVENT_RETENTION_HOURS`
   * (idempotency keys, say).
   */
  retention?: RetainedTable[];
}

/**
 * A module as the kernel sees it. Everything but `setup` is data, so the
 * kernel (and later the extraction tool and the architecture graph) can read
 * a module's contract without running it.
 */
export interface ModuleDefinition<C extends ApiContract | undefined = ApiContract | undefined> {
  /** Lower-case name: the schema, the route prefix `/api/<name>` and the event namespace. */
  readonly name: string;
  /** The module's synchronous API, if it offers one. */
  readonly api?: C;
  /** The events it publishes. */
  readonly events: readonly EventDefinition[];
  /** Modules whose API this module may call. */
  readonly dependsOn: readonly string[];
  /**
   * The events it consumes, by handler name (see `defineContract`). When
   * given, the handlers its setup returns must match it exactly. A module
   * that runs in another process must declare it, so that this process can
   * route events to it.
   */
  readonly consumes?: Readonly<Record<string, EventSubscription>>;
  /**
   * Folder of its migrations; `migrations/<name>` by default. `false` for a
   * module without tables of its own (it still gets the kernel's outbox,
   * inbox and dead letters); a folder that does not exist is an error.
   */
  readonly migrationsDir?: string | false;
  setup(context: ModuleContext): ModuleParts<C>;
}

/**
 * Declares a module: its contract (see `defineContract`) and its setup.
 *
 * @example
 * export const shippingModule = defineModule({ ...shippingContract, setup: (ctx) => ({ routes: shippingRoutes(ctx.db), handlers: [createShipment] }) });
 *
 * export const shippingModule = defineModule({
 *   name: 'shipping', events: [], dependsOn: [],
 *   setup: (ctx) => ({ routes: shippingRoutes(ctx.db), handlers: [createShipment(ctx.db)] }),
 * });
 */
export function defineModule<C extends ApiContract | undefined = undefined>(definition: ModuleDefinition<C>): ModuleDefinition<C> {
  return definition;
}
