import { Container } from 'inversify';
import type { Logger } from 'pino';
import type { CallContext } from '../context/call-context.js';
import type { Database } from '../db/module-db.js';
import { createEventConsumer, type DeliveryOutcome } from '../events/event-consumer.js';
import type { EventConsumer } from '../events/envelope.js';
import { createEventPublisher } from '../events/event-publisher.js';
import type { RouteDefinition } from '../http/route.js';
import { localBinding, type ApiBinding } from '../module/api-binding.js';
import { eventKey, type ApiContract, type ApiOf } from '../module/contract.js';
import type { ModuleDefinition } from '../module/define-module.js';
import type { FaultPoints } from '../testing/fault-points.js';
import { assertTopology } from './assert-topology.js';

/** A module after set-up, as the rest of the kernel uses it. */
export interface WiredModule {
  definition: ModuleDefinition<any>;
  routes: RouteDefinition[];
  consumers: EventConsumer[];
  /** Set by the app once the module's relay exists. */
  nudge: () => void;
}

export interface WireOptions {
  modules: readonly ModuleDefinition<any>[];
  database: Database;
  logger: Logger;
  apiBindings: Record<string, ApiBinding>;
  onHandled: (handlerId: string, outcome: DeliveryOutcome) => void;
  /** Lanes of a handler that sets none of its own. */
  handlerConcurrency?: number;
  faults?: FaultPoints;
}

/**
 * Sets every module up: binds its API token in the container through the
 * binding the topology chose (local by default), and builds its routes and
 * event consumers.
 */
export function wireModules(options: WireOptions): { container: Container; modules: WiredModule[] } {
  assertTopology(options.modules);
  const container = new Container();
  const wired: WiredModule[] = [];
  for (const definition of options.modules) {
    const db = options.database.forModule(definition.name);
    const logger = options.logger.child({ module: definition.name });
    const module: WiredModule = { definition, routes: [], consumers: [], nudge: () => undefined };
    const events = createEventPublisher({ module: definition.name, declared: definition.events, onCommit: () => module.nudge() });
    const parts = definition.setup({
      name: definition.name,
      db,
      events,
      logger,
      api<C extends ApiContract>(contract: C): ApiOf<C> {
        if (!definition.dependsOn.includes(contract.module)) {
          throw new Error(`module ${definition.name} uses the API of ${contract.module} but does not list it in dependsOn`);
        }
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
    }
    module.routes = parts.routes ?? [];
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
      }),
    );
    wired.push(module);
  }
  assertSubscriptionsPublished(wired);
  return { container, modules: wired };
}

function assertSubscriptionsPublished(modules: WiredModule[]): void {
  const published = new Set(modules.flatMap((m) => m.definition.events.map(eventKey)));
  for (const module of modules) {
    for (const consumer of module.consumers) {
      if (!published.has(consumer.eventKey)) {
        throw new Error(`${consumer.handlerId} subscribes to ${consumer.eventKey}, which no module publishes`);
      }
    }
  }
}
