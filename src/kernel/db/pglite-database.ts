import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import knexFactory from 'knex';
import ClientPgLite from 'knex-pglite';
import type { Logger } from 'pino';
import { assertIdentifier, type Database, type ModuleDb } from './module-db.js';
import { runTransactionBody } from './transaction-body.js';
import { dbScope } from './db-scope.js';
import { SerialQueue } from './serial-queue.js';
import { lockDataFolder, type DataFolderLock } from './data-folder-lock.js';
import { initDataFolder, isDataFolderInitialised } from './pglite-init.js';

export interface PgliteDatabaseOptions {
  /** Folder of the data files; undefined keeps everything in memory. */
  dataDir: string | undefined;
  /** Told when the folder's lock was taken over from a process that no longer runs. */
  logger?: Logger;
}

/** What a process refused a data folder in use should do; `npm start` and the CLIs print it. */
const IN_USE_REMEDY =
  'PGlite allows one process per folder. Stop that process first (commands such as npm run migrate or npm run events need the app stopped), ' +
  'or set DATABASE_URL to a PostgreSQL database, which several processes can share';

/**
 * PostgreSQL's shared buffer cache inside PGlite. PGlite's default, 128 MB,
 * grows its wasm memory to 200 MB, all of it resident; the shop's working
 * set fits in a fraction of 16 MB, and pages beyond it are read back from the
 * operating system's file cache (docs/benchmarks.md, "Memory").
 */
const SHARED_BUFFERS = '16MB';

/**
 * Embedded PostgreSQL (PGlite). It has one connection, so the kernel runs one
 * unit of work at a time (a read or a whole transaction) and sets the module's
 * search path at its start. A data folder is locked to one process (until
 * `close()` or exit): two PGlite instances on one folder overwrite each
 * other's writes.
 *
 * @example
 * const db = await createPgliteDatabase({ dataDir: '.data/pglite' });
 */
export async function createPgliteDatabase(options: PgliteDatabaseOptions): Promise<Database> {
  const lock = options.dataDir ? await openDataFolder(options.dataDir, options.logger) : undefined;
  let pglite: PGlite;
  try {
    if (options.dataDir && !isDataFolderInitialised(options.dataDir)) await initDataFolder(options.dataDir);
    pglite = new PGlite(options.dataDir, { startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${SHARED_BUFFERS}`] });
    await pglite.waitReady;
  } catch (error) {
    lock?.release();
    throw error;
  }
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
              knex.transaction((trx) =>
                runTransactionBody(trx, context, async (t) => {
                  await t.raw(path);
                  return fn(t);
                }),
              ),
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
      await queue.run(async () => {
        await knex.destroy();
        // knex closes PGlite only if it ever borrowed it; the files must be closed before another process may open them.
        if (!pglite.closed) await pglite.close();
      });
      lock?.release();
    },
  };
  return database;
}

async function openDataFolder(dataDir: string, logger: Logger | undefined): Promise<DataFolderLock> {
  mkdirSync(dataDir, { recursive: true });
  const lock = await lockDataFolder(dataDir, { remedy: IN_USE_REMEDY });
  if (lock.staleHolder !== undefined) {
    const pid = lock.staleHolder?.pid;
    logger?.warn({ lockFile: lock.path, stalePid: pid }, `took over the stale lock of ${lock.folder} from process ${pid ?? '(unknown)'}, which no longer runs`);
  }
  return lock;
}
