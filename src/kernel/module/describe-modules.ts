import { pino } from 'pino';
import type { ModuleDb } from '../db/module-db.js';
import type { EventPublisher } from '../events/event-publisher.js';
import type { ApiContract, ApiOf } from './contract.js';
import type { ModuleDefinition } from './define-module.js';
import { describeContract, type ModuleDescription } from './describe-contracts.js';

export type { ModuleDescription } from './describe-contracts.js';

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
      ...describeContract(definition),
      consumes: (parts.handlers ?? []).map((h) => ({ event: h.event.name, version: h.event.version, handler: `${definition.name}.${h.name}` })),
      routes: (parts.routes ?? []).map((r) => ({ method: r.method.toUpperCase(), path: `/api/${definition.name}${r.path === '/' ? '' : r.path}` })),
    };
  });
}
