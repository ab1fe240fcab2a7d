import { pino } from 'pino';
import { z } from 'zod';
import type { ModuleDb } from '../db/module-db.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { ApiContract, ApiOf } from './contract.js';
import type { ModuleDefinition } from './define-module.js';

/** A module as data: what it offers, what it needs, what it publishes and consumes. */
export interface ModuleDescription {
  name: string;
  dependsOn: string[];
  operations: string[];
  publishes: Array<{ name: string; version: number; schema: unknown }>;
  consumes: Array<{ event: string; version: number; handler: string }>;
  routes: Array<{ method: string; path: string }>;
}

function refuse(what: string): never {
  throw new Error(`describeModules: a module's setup must not use ${what} (it runs without I/O)`);
}

/**
 * Reads every module's contract and wiring without running it: setup is
 * called with a context whose database, publisher and APIs refuse any use.
 * Used for the architecture graph and the event catalog.
 *
 * @example
 * const [catalog] = describeModules([catalogModule]);
 */
export function describeModules(modules: readonly ModuleDefinition<any>[]): ModuleDescription[] {
  const logger = pino({ level: 'silent' });
  const db: ModuleDb = { schema: 'dry-run', query: () => refuse('the database'), read: () => refuse('the database'), transaction: () => refuse('the database') };
  const events: EventPublisher = { publish: () => refuse('the event publisher'), publishMany: () => refuse('the event publisher') };
  return modules.map((definition) => {
    const parts = definition.setup({
      name: definition.name,
      db,
      events,
      logger,
      api: <C extends ApiContract>(contract: C) =>
        Object.fromEntries(Object.keys(contract.operations).map((op) => [op, () => refuse(`${contract.module}.${op}`)])) as unknown as ApiOf<C>,
    });
    return {
      name: definition.name,
      dependsOn: [...definition.dependsOn],
      operations: Object.keys(definition.api?.operations ?? {}),
      publishes: definition.events.map((e) => ({ name: e.name, version: e.version, schema: z.toJSONSchema(e.schema, { io: 'output' }) })),
      consumes: (parts.handlers ?? []).map((h) => ({ event: h.event.name, version: h.event.version, handler: `${definition.name}.${h.name}` })),
      routes: (parts.routes ?? []).map((r) => ({ method: r.method.toUpperCase(), path: `/api/${definition.name}${r.path === '/' ? '' : r.path}` })),
    };
  });
}
