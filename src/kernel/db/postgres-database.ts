import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import type { Logger } from 'pino';
import { assertIdentifier, type Database, type ModuleDb, type OwnerDb } from './module-db.js';
import type { CallContext } from '../context/call-context.js';
import { runTransactionBody } from './transaction-body.js';
import { dbScope } from './db-scope.js';
import { moduleRoleName } from './module-roles.js';

export interface PostgresDatabaseOptions {
  url: string;
  /** Connections per module pool. */
  poolMax: number;
  /** Run each module's queries as its own role (see module-roles.ts); on by default. */
  moduleRoles?: boolean;
  /** Refuse nested database work (see db-scope.ts); on by default. */
  nestingCheck?: boolean;
  /** Where knex's own warnings go (a dropped connection, say) instead of the console. */
  logger?: Logger;
}

/** How long a query waits for a free connection of its module's pool before it fails. */
const CONNECT_TIMEOUT_MS = 30_000;

function knexLog(logger: Logger | undefined): Knex.Config['log'] {
  if (!logger) return undefined;
  return {
    warn: (message: unknown) => logger.warn({ knex: message }, 'database warning'),
    error: (message: unknown) => logger.error({ knex: message }, 'database error'),
    deprecate: (message: unknown) => logger.warn({ knex: message }, 'database deprecation'),
    debug: (message: unknown) => logger.debug({ knex: message }, 'database debug'),
  };
}

function rowsOf<R>(result: pg.QueryResult): R[] {
  return result.rows as R[];
}

/**
 * The connection string without its `options`, and startup options that pin
 * every connection of a module's pool to the module's schema (and role) as
 * the server opens it: no extra round trip per connection or query. Options
 * already in the URL are kept, after them. (pg lets the URL's `options` win
 * over the config's, so they must leave the URL.)
 */
function pinnedConnection(url: string, schema: string, role: string | undefined): { connectionString: string; options: string } {
  const parsed = new URL(url);
  const given = parsed.searchParams.get('options') ?? '';
  parsed.searchParams.delete('options');
  const pins = [...(role ? [`-c role=${role}`] : []), `-c search_path=${schema}`];
  return { connectionString: parsed.toString(), options: [given, ...pins].filter(Boolean).join(' ') };
}

/**
 * PostgreSQL with one small `pg` pool per module, each connection pinned to
 * the module's schema and role when it is opened. Hot reads go straight to
 * the pool (`query`); knex borrows connections from the same pool for
 * query-built reads and transactions, so a module never holds more than
 * `poolMax` connections.
 *
 * @example
 * const db = createPostgresDatabase({ url: 'postgres://postgres@127.0.0.1:5432/test', poolMax: 5 });
 */
export function createPostgresDatabase(options: PostgresDatabaseOptions): Database {
  const modules = new Map<string, { pool: pg.Pool; knex: Knex }>();
  const log = knexLog(options.logger);
  const admin = knexFactory({ client: 'pg', connection: options.url, pool: { min: 0, max: 2 }, log });

  const moduleRoles = options.moduleRoles ?? true;
  const nestingCheck = options.nestingCheck ?? true;
  const runInDbScope = dbScope(nestingCheck);

  function poolFor(schema: string): { pool: pg.Pool; knex: Knex } {
    let entry = modules.get(schema);
    if (!entry) {
      const pool = new pg.Pool({
        ...pinnedConnection(options.url, schema, moduleRoles ? moduleRoleName(schema) : undefined),
        application_name: `mmk:${schema}`,
        max: options.poolMax,
        // A query waits at most this long for a free connection, then fails rather than hang.
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      // A connection that dies (server restart, network) must not crash the process: idle
      // ones are reported by the pool, checked-out ones (knex's) by the client itself;
      // pg discards a broken client when it is released.
      const lost = (err: Error) => options.logger?.warn({ err, module: schema }, 'database connection lost');
      pool.on('error', lost);
      pool.on('connect', (client) => client.on('error', lost));
      entry = { pool, knex: knexFactory({ client: 'pg', connectionPool: pool, log }) };
      modules.set(schema, entry);
    }
    return entry;
  }

  return {
    kind: 'postgres',
    forModule(schema: string): ModuleDb {
      const { pool, knex } = poolFor(assertIdentifier(schema));
      const query = <R extends object>(sql: string, params?: readonly unknown[]) =>
        pool.query<R & pg.QueryResultRow>(sql, params as unknown[] | undefined).then(rowsOf<R>);
      return {
        schema,
        // Without the nesting check, a hot read is the pool's query and nothing else.
        query: nestingCheck ? (sql, params) => runInDbScope(schema, () => query(sql, params)) : query,
        read: (fn) => runInDbScope(schema, () => fn(knex)),
        transaction: (fn, context) =>
          runInDbScope(schema, () =>
            knex.transaction((trx) => runTransactionBody(trx, context, fn)),
          ),
      };
    },
    forOwner(schema: string): OwnerDb {
      const path = `set local search_path to "${assertIdentifier(schema)}"`;
      const inOwnerTransaction = <T>(fn: (trx: Knex.Transaction) => Promise<T>, context?: CallContext): Promise<T> =>
        runInDbScope(schema, () =>
          admin.transaction((trx) =>
            runTransactionBody(trx, context, async (t) => {
              await t.raw(path);
              return fn(t);
            }),
          ),
        );
      return {
        schema,
        read: inOwnerTransaction,
        transaction: inOwnerTransaction,
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
      const entries = [...modules.values()];
      modules.clear();
      // The pools first: `end()` waits for the connections in use (knex's too) to come
      // back; destroying knex first would leave it unable to return them.
      await Promise.all(entries.map(({ pool }) => pool.end()));
      await Promise.all([...entries.map(({ knex }) => knex.destroy()), admin.destroy()]);
    },
  };
}
