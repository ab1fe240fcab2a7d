import knexFactory, { type Knex } from 'knex';
import type { Logger } from 'pino';
import { assertIdentifier, type Database, type ModuleDb } from './module-db.js';
import { runInDbScope } from './db-scope.js';
import { moduleRoleName } from './module-roles.js';

export interface PostgresDatabaseOptions {
  url: string;
  /** Connections per module pool. */
  poolMax: number;
  /** Run each module's queries as its own role (see module-roles.ts); on by default. */
  moduleRoles?: boolean;
  /** Where knex's own warnings go (a dropped connection, say) instead of the console. */
  logger?: Logger;
}

function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  if (!logger) return undefined;
  return {
    warn: (message: unknown) => logger.warn({ knex: message }, 'database warning'),
    error: (message: unknown) => logger.error({ knex: message }, 'database error'),
    deprecate: (message: unknown) => logger.warn({ knex: message }, 'database deprecation'),
    debug: (message: unknown) => logger.debug({ knex: message }, 'database debug'),
  };
}

/**
 * PostgreSQL with one small pool per module, each connection pinned to the
 * module's schema when it is opened, so a scoped query costs no extra round trip.
 *
 * @example
 * const db = createPostgresDatabase({ url: 'postgres://postgres@127.0.0.1:5432/test', poolMax: 5 });
 */
export function createPostgresDatabase(options: PostgresDatabaseOptions): Database {
  const pools = new Map<string, Knex>();
  const log = knexLog(options.logger);
  const admin = knexFactory({ client: 'pg', connection: options.url, pool: { min: 0, max: 2 }, log });

  const moduleRoles = options.moduleRoles ?? true;

  function poolFor(schema: string): Knex {
    let pool = pools.get(schema);
    if (!pool) {
      const pin = moduleRoles ? `set role "${moduleRoleName(schema)}"; set search_path to "${schema}"` : `set search_path to "${schema}"`;
      pool = knexFactory({
        client: 'pg',
        connection: { connectionString: options.url, application_name: `mmk:${schema}` },
        log,
        pool: {
          min: 0,
          max: options.poolMax,
          afterCreate: (conn: { query: (sql: string, cb: (err?: Error) => void) => void }, done: (err: Error | undefined, c: unknown) => void) => {
            conn.query(pin, (err) => done(err, conn));
          },
        },
      });
      pools.set(schema, pool);
    }
    return pool;
  }

  return {
    kind: 'postgres',
    forModule(schema: string): ModuleDb {
      const pool = poolFor(assertIdentifier(schema));
      return {
        schema,
        read: (fn) => runInDbScope(schema, () => fn(pool)),
        transaction: (fn) => runInDbScope(schema, () => pool.transaction(fn)),
      };
    },
    forOwner(schema: string): ModuleDb {
      const path = `set local search_path to "${assertIdentifier(schema)}"`;
      return {
        schema,
        read: (fn) => runInDbScope(schema, () => admin.transaction(async (trx) => {
          await trx.raw(path);
          return fn(trx);
        })),
        transaction: (fn) =>
          runInDbScope(schema, () =>
            admin.transaction(async (trx) => {
              await trx.raw(path);
              return fn(trx);
            }),
          ),
      };
    },
    ownership: moduleRoles ? 'roles' : 'search-path',
    async ensureSchema(schema) {
      await admin.raw(`create schema if not exists "${assertIdentifier(schema)}"`);
    },
    async ping() {
      await admin.raw('select 1');
    },
    async close() {
      await Promise.all([...pools.values(), admin].map((pool) => pool.destroy()));
      pools.clear();
    },
  };
}
