import { Container } from 'inversify';
import type { Logger } from 'pino';
import type { CallContext } from '../context/call-context.js';
import type { Database } from '../db/module-db.js';
import { createEventConsumer, type DeliveryOutcome } from '../events/event-consumer.js';
import type { EventConsumer } from '../events/envelope.js';
import { createEventPublisher } from '../events/event-publisher.js';
import { unservedVersion } from '../events/event-versions.js';
import type { RouteDefinition } from '../http/route.js';
import { localBinding, type ApiBinding } from '../module/api-binding.js';
import { eventKey, type ApiContract, type ApiOf, type EventDefinition, type ModuleContract } from '../module/contract.js';
import type { ModuleDefinition } from '../module/define-module.js';
import { remoteBinding } from '../remote/remote-binding.js';
import type { RemoteModule } from '../remote/remote-module.js';
import type { RetainedTable } from '../events/retention.js';
import type { FaultPoints } from '../testing/fault-points.js';
import type { Tracing } from '../tracing/tracing.js';
import { assertTopology } from './assert-topology.js';

/** A module after set-up, as the rest of the kernel uses it. */
export interface WiredModule {
  definition: ModuleDefinition<any>;
  routes: RouteDefinition[];
  consumers: EventConsumer[];
  /** The module's own tables purged with the events (`ModuleParts.retention`). */
  retention: RetainedTable[];
  /** Set by the app once the module's relay exists. */
  nudge: () => void;
}

export interface WireOptions {
  /** The modules this process runs. */
  modules: readonly ModuleDefinition<any>[];
  /** Every module of the system (those that run elsewhere included). */
  contracts: readonly ModuleContract<any>[];
  /** The modules that run elsewhere, by name. */
  remotes: ReadonlyMap<string, RemoteModule>;
  database: Database;
  logger: Logger;
  apiBindings: Record<string, ApiBinding>;
  onHandled: (handlerId: string, outcome: DeliveryOutcome) => void;
  /** Lanes of a handler that sets none of its own. */
  handlerConcurrency?: number;
  faults?: FaultPoints;
  /** Present when tracing is on (publish and handle spans). */
  tracing?: Tracing | undefined;
}

/**
 * Sets every module up: binds its API token in the container through the
 * binding the topology chose (local by default), and builds its routes and
 * event consumers.
 */
export function wireModules(options: WireOptions): { container: Container; modules: WiredModule[]; apis: Map<string, { contract: ApiContract; implementation: any }> } {
  assertTopology(options.contracts);
  const container = new Container();
  const wired: WiredModule[] = [];
  const apis = new Map<string, { contract: ApiContract; implementation: any }>();
  for (const definition of options.modules) {
    const db = options.database.forModule(definition.name);
    const logger = options.logger.child({ module: definition.name });
    const module: WiredModule = { definition, routes: [], consumers: [], retention: [], nudge: () => undefined };
    const events = createEventPublisher({ module: definition.name, declared: definition.events, onCommit: () => module.nudge(), tracing: options.tracing });
    const parts = definition.setup({
      name: definition.name,
      db,
      events,
      logger,
      api<C extends ApiContract>(contract: C): ApiOf<C> {
        if (!definition.dependsOn.includes(contract.module)) {
          throw new Error(`module ${definition.name} uses the API of ${contract.module} but does not list it in dependsOn`);
        }
        const remote = options.remotes.get(contract.module);
        if (remote) return remoteBinding(contract, remote, definition.name);
        // Resolved on first call, so modules can be set up in any order.
        let resolved: ApiOf<C> | undefined;
        const lazy: Record<string, (input: unknown, context?: CallContext) => Promise<unknown>> = {};
        for (const name of Object.keys(contract.operations)) {
          lazy[name] = (input, context) => {
            resolved ??= container.get<ApiOf<C>>(contract.token);
            return (resolved as Record<string, (i: unknown, c?: CallContext) => Promise<unknown>>)[name]!(input, context);
          };
        }
        return lazy as ApiOf<C>;
      },
    });
    if (definition.api) {
      if (!parts.api) throw new Error(`module ${definition.name} declares an API but its setup returns no implementation`);
      const binding = options.apiBindings[definition.name] ?? localBinding;
      container.bind(definition.api.token).toConstantValue(binding(definition.api, parts.api));
      apis.set(definition.name, { contract: definition.api, implementation: parts.api });
    }
    assertConsumersDeclared(definition, parts.handlers ?? []);
    module.routes = parts.routes ?? [];
    module.retention = parts.retention ?? [];
    module.consumers = (parts.handlers ?? []).map((handler) =>
      createEventConsumer({
        module: definition.name,
        db,
        publisher: events,
        logger,
        definition: handler,
        onHandled: options.onHandled,
        concurrency: options.handlerConcurrency,
        faults: options.faults,
        published: publishedDefinition(options.contracts, handler.event.name),
        tracing: options.tracing,
      }),
    );
    wired.push(module);
  }
  assertSubscriptionsPublished(wired, options.contracts);
  return { container, modules: wired, apis };
}

/** A module that declares what it consumes must set up exactly those handlers: other processes route events by the declaration. */
function assertConsumersDeclared(definition: ModuleDefinition<any>, handlers: readonly { name: string; event: { name: string; version: number } }[]): void {
  if (definition.consumes === undefined) return;
  const declared = new Map(Object.entries(definition.consumes).map(([handler, event]) => [handler, eventKey(event)]));
  const built = new Map(handlers.map((h) => [h.name, eventKey(h.event)]));
  for (const [handler, key] of built) {
    if (declared.get(handler) !== key) {
      throw new Error(`module ${definition.name}: handler ${handler} (${key}) is not declared in its contract's consumes${declared.has(handler) ? ` (declared: ${declared.get(handler)})` : ''}`);
    }
  }
  for (const [handler, key] of declared) {
    if (!built.has(handler)) throw new Error(`module ${definition.name}: its contract declares handler ${handler} (${key}), but its setup returns no such handler`);
  }
}

/** Every event a module of the system consumes, by handler id (`<module>.<handler>`); from the contracts, or from the wired handlers of a module that declares none. */
export function consumersOfSystem(modules: readonly WiredModule[], contracts: readonly ModuleContract<any>[]): Array<{ handlerId: string; eventKey: string }> {
  const wired = new Map(modules.map((m) => [m.definition.name, m]));
  return contracts.flatMap((contract) => {
    const local = wired.get(contract.name);
    if (local && contract.consumes === undefined) return local.consumers.map((c) => ({ handlerId: c.handlerId, eventKey: c.eventKey }));
    return Object.entries(contract.consumes ?? {}).map(([handler, event]) => ({ handlerId: `${contract.name}.${handler}`, eventKey: eventKey(event) }));
  });
}

/** The definition of the event `name` as its publisher declares it, among every module of the system. */
function publishedDefinition(contracts: readonly ModuleContract<any>[], name: string): EventDefinition | undefined {
  for (const contract of contracts) for (const event of contract.events) if (event.name === name) return event;
  return undefined;
}

/**
 * Every consumer of the system reads a version its publisher serves: the
 * version it publishes, or an older one its downcasts reach (ADR 0014).
 */
function assertSubscriptionsPublished(modules: WiredModule[], contracts: readonly ModuleContract<any>[]): void {
  for (const consumer of consumersOfSystem(modules, contracts)) {
    const name = consumer.eventKey.slice(0, consumer.eventKey.lastIndexOf('@'));
    const version = Number(consumer.eventKey.slice(consumer.eventKey.lastIndexOf('@') + 1));
    const definition = publishedDefinition(contracts, name);
    if (!definition) throw new Error(`${consumer.handlerId} subscribes to ${consumer.eventKey}, which no module publishes`);
    const gap = unservedVersion(definition, version);
    if (gap) throw new Error(`${consumer.handlerId} reads ${consumer.eventKey}, which its publisher cannot serve: ${gap}`);
  }
}
