import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError } from '../errors/app-error.js';

const scope = new AsyncLocalStorage<string>();

/**
 * Runs `fn` as database work of `schema` and refuses nested work: a module
 * that calls the database (its own or through another module's API) while it
 * holds a transaction would deadlock on PGlite and hold locks across a remote
 * call once modules are split, so the kernel stops it in every topology.
 */
export function runInDbScope<T>(schema: string, fn: () => Promise<T>): Promise<T> {
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
}
