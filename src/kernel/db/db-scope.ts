import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '../errors/app-error.js';

const scope = new AsyncLocalStorage<string>();

/** Runs one unit of database work (a query, a read or a whole transaction) of a schema. */
export type DbScope = <T>(schema: string, fn: () => Promise<T>) => Promise<T>;

/**
 * Refuses nested database work: a module that calls the database (its own or
 * through another module's API) while it holds a transaction would deadlock
 * on PGlite and hold locks across a remote call once modules are split.
 *
 * The check needs AsyncLocalStorage, whose promise hook costs every promise
 * of the process on Node 20, so it is a development check on PostgreSQL
 * (`DATABASE_NESTING_CHECK`, off by default when NODE_ENV=production) and
 * always on for PGlite, where nesting would otherwise hang the process.
 *
 * @example
 * const run = dbScope(true);
 * await run('orders', () => knex.transaction(fn));
 */
export function dbScope(checkNesting: boolean): DbScope {
  if (!checkNesting) return (_schema, fn) => fn();
  return function runInDbScope(schema, fn) {
    const outer = scope.getStore();
    if (outer !== undefined) {
      return Promise.reject(
        new AppError(
          'INTERNAL',
          'KERNEL.NESTED_DB_ACCESS',
          `database work for "${schema}" started inside open database work of "${outer}": ` +
            'finish the transaction first, then call other modules or read again',
        ),
      );
    }
    return scope.run(schema, fn);
  };
}
