import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import knexFactory from 'knex';
import ClientPgLite from 'knex-pglite';
import { assertIdentifier, type Database, type ModuleDb } from './module-db.js';
import { bindCallContext } from '../context/call-context.js';
import { dbScope } from './db-scope.js';
import { SerialQueue } from './serial-queue.js';

export interface PgliteDatabaseOptions {
  /** Folder of the data files; undefined keeps everything in memory. */
  dataDir: string | undefined;
}

/**
 * Embedded PostgreSQL (PGlite). It has one connection, so the kernel runs one
 * unit of work at a time (a read or a whole transaction) and sets the module's
 * search path at its start.
 *
 * @example
 * const db = await createPgliteDatabase({ dataDir: '.data/pglite' });
 */
export async function createPgliteDatabase(options: PgliteDatabaseOptions): Promise<Database> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const pglite = new PGlite(options.dataDir);
  await pglite.waitReady;
  const knex = knexFactory({ client: ClientPgLite as never, dialect: 'postgres', connection: () => ({ pglite }) as object });
  const queue = new SerialQueue();
  // Always on: with one connection, nested work would wait for itself forever.
  const runInDbScope = dbScope(true);

  const database: Database = {
    kind: 'pglite',
    // One embedded user: PGlite keeps modules apart by search path only (docs/adr/0004).
    ownership: 'search-path',
    forOwner: (schema) => database.forModule(schema),
    forModule(schema: string): ModuleDb {
      const path = `set search_path to "${assertIdentifier(schema)}"`;
      return {
        schema,
        query: <R extends object>(sql: string, params?: readonly unknown[]) =>
          runInDbScope(schema, () =>
            queue.run(async () => {
              await pglite.exec(path);
              return (await pglite.query<R>(sql, params as unknown[] | undefined)).rows;
            }),
          ),
        read: (fn) =>
          runInDbScope(schema, () =>
            queue.run(async () => {
              await knex.raw(path);
              return fn(knex);
            }),
          ),
        transaction: (fn, context) =>
          runInDbScope(schema, () =>
            queue.run(() =>
              knex.transaction(async (trx) => {
                bindCallContext(trx, context);
                await trx.raw(path);
                return fn(trx);
              }),
            ),
          ),
      };
    },
    async ensureSchema(schema) {
      await queue.run(() => knex.raw(`create schema if not exists "${assertIdentifier(schema)}"`));
    },
    async ping() {
      await queue.run(() => knex.raw('select 1'));
    },
    async close() {
      await queue.run(() => knex.destroy());
    },
  };
  return database;
}
