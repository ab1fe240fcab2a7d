import type { Database } from './module-db.js';

function refuse(): never {
  throw new Error('this process runs no module (MODULES=none), so it has no database');
}

/**
 * The database of a pure gateway (`MODULES=none`): it runs no module, so it
 * stores nothing and opens nothing; `DATABASE_URL` is not even read.
 *
 * @example
 * const database = topology.local.length === 0 ? noDatabase() : await openDatabase(config, logger);
 */
export function noDatabase(): Database {
  return {
    kind: 'none',
    ownership: 'search-path',
    forModule: refuse,
    forOwner: refuse,
    ensureSchema: async () => refuse(),
    ping: async () => undefined,
    close: async () => undefined,
  };
}
