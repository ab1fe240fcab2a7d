import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { AppError } from '../errors/app-error.js';
import { KERNEL_MIGRATIONS, MOVED_TABLE } from './kernel-tables.js';
import { loadMigrations } from './migrator.js';
import { assertIdentifier } from './module-db.js';
import { grantModuleRole, moduleRoleName } from './module-roles.js';

/** The kernel's mark on a module schema that move-data copied in: where it came from (to finish an interrupted move). */
const COPIED_TABLE = 'mmk_copied';

export interface MoveDataOptions {
  module: string;
  from: string;
  to: string;
  /** The module's migrations folder, to create its tables in the target (null: kernel tables only). */
  migrationsDir: string | null;
  log: (line: string) => void;
  /** Tables with at least this many rows print their progress (rows/s) while they copy. */
  progressRows?: number;
}

export interface TableReport {
  table: string;
  rows: number;
  checksum: string;
  seconds: number;
}

/** A database URL without its password, safe for logs and the moved mark. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Who runs the module against a database now: its connections (application_name `mmk:<module>`). */
export async function moduleConnections(client: pg.Client, module: string): Promise<string[]> {
  const { rows } = await client.query<{ pid: number; client: string | null; since: Date }>(
    `select pid, coalesce(host(client_addr), 'local socket') as client, backend_start as since
       from pg_stat_activity where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
    [`mmk:${module}`],
  );
  return rows.map((r) => `pid ${r.pid} from ${r.client} since ${r.since.toISOString()}`);
}

async function schemaExists(client: pg.Client | Knex.Transaction, schema: string): Promise<boolean> {
  const sql = 'select 1 from information_schema.schemata where schema_name = ?';
  if (client instanceof pg.Client) return (await client.query(sql.replace('?', '$1'), [schema])).rowCount! > 0;
  return ((await client.raw(sql, [schema])) as pg.QueryResult).rowCount! > 0;
}

async function tableExists(client: pg.Client, schema: string, table: string): Promise<boolean> {
  return (await client.query('select 1 from information_schema.tables where table_schema = $1 and table_name = $2', [schema, table])).rowCount! > 0;
}

/** Where a schema's data was moved, if move-data copied it away; read at start so an old copy is never used again. */
export async function movedTo(client: pg.Client, schema: string): Promise<{ to: string; at: Date } | undefined> {
  if (!(await tableExists(client, schema, MOVED_TABLE))) return undefined;
  const { rows } = await client.query<{ moved_to: string; moved_at: Date }>(`select moved_to, moved_at from "${schema}"."${MOVED_TABLE}" order by moved_at desc limit 1`);
  return rows[0] ? { to: rows[0].moved_to, at: rows[0].moved_at } : undefined;
}

/** The module's tables with their columns in order (the move copies every one, kernel tables included). */
async function tablesOf(client: pg.Client, schema: string): Promise<Map<string, string[]>> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `select c.table_name, c.column_name from information_schema.columns c
       join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
      where c.table_schema = $1 and c.table_name not in ($2, $3)
      order by c.table_name, c.ordinal_position`,
    [schema, MOVED_TABLE, COPIED_TABLE],
  );
  const tables = new Map<string, string[]>();
  for (const r of rows) tables.set(r.table_name, [...(tables.get(r.table_name) ?? []), r.column_name]);
  return tables;
}

type Queryable = { query: pg.Client['query'] };

/** Which database of which cluster a connection is on (two URLs may name the same one). */
async function databaseIdentity(client: pg.Client): Promise<string> {
  try {
    return (await client.query<{ id: string }>("select system_identifier::text || '/' || current_database() as id from pg_control_system()")).rows[0]!.id;
  } catch {
    // pg_control_system() is not granted to every role: the server's address, port and database then.
    return (await client.query<{ id: string }>("select coalesce(host(inet_server_addr()), 'socket') || ':' || current_setting('port') || '/' || current_database() as id")).rows[0]!.id;
  }
}

/**
 * Row count and an order-independent checksum of a table's content: the sum
 * of a 64-bit hash of every row's text (same types, UTC session, so the same
 * text on both sides).
 */
async function fingerprint(client: Queryable, schema: string, table: string): Promise<{ rows: number; checksum: string }> {
  const { rows } = await client.query<{ rows: string; checksum: string }>(
    `select count(*) as rows, coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0)::text as checksum from "${schema}"."${table}" t`,
  );
  return { rows: Number(rows[0]!.rows), checksum: rows[0]!.checksum };
}

const quoted = (columns: string[]) => columns.map((c) => `"${c}"`).join(', ');

/** Sets every sequence a column of the schema owns to the column's highest value, so new rows do not collide. */
async function resetSequences(trx: Knex.Transaction, schema: string): Promise<void> {
  const { rows } = (await trx.raw(
    `select t.relname as table_name, a.attname as column_name, s.relname as sequence_name
       from pg_class s join pg_depend d on d.objid = s.oid and d.deptype in ('a', 'i')
       join pg_class t on t.oid = d.refobjid join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
       join pg_namespace n on n.oid = s.relnamespace
      where s.relkind = 'S' and n.nspname = ?`,
    [schema],
  )) as pg.QueryResult<{ table_name: string; column_name: string; sequence_name: string }>;
  for (const r of rows) {
    await trx.raw(`select setval('"${schema}"."${r.sequence_name}"', coalesce((select max("${r.column_name}") from "${schema}"."${r.table_name}"), 0) + 1, false)`);
  }
}

async function connect(url: string, side: 'source' | 'target'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: `mmk-move-data:${side}` });
  try {
    await client.connect();
  } catch (error) {
    throw new AppError('BAD_REQUEST', 'MOVE_DATA.CONNECT', `cannot connect to the ${side} database ${redactUrl(url)}: ${(error as Error).message}`);
  }
  await client.query("set timezone = 'UTC'");
  return client;
}

/**
 * Copies a module's schema (its tables, outbox, inbox, dead letters and
 * migration records) from one PostgreSQL database to another, verifies every
 * table's row count and content checksum, and only then marks the source copy
 * as moved and revokes the module role's writes there.
 *
 * The copy runs in one target transaction (schema, tables by the module's
 * migrations, COPY streams, checksums): killed midway, it leaves nothing in
 * the target and the source untouched, and a re-run starts over. The source
 * is read in one repeatable-read snapshot. An interruption after the target
 * committed but before the source was marked is finished by a re-run, which
 * checks the target against the source again.
 */
export async function moveModuleData(options: MoveDataOptions): Promise<TableReport[]> {
  const schema = assertIdentifier(options.module);
  const { log } = options;
  const progressRows = options.progressRows ?? 20_000;
  const source = await connect(options.from, 'source');
  const target = await connect(options.to, 'target');
  const knex = knexFactory({ client: 'pg', connection: { connectionString: options.to, application_name: 'mmk-move-data:target' }, pool: { min: 0, max: 1 } });
  try {
    const [sourceDb, targetDb] = await Promise.all([source, target].map(databaseIdentity));
    if (sourceDb === targetDb) throw new AppError('BAD_REQUEST', 'MOVE_DATA.SAME_DATABASE', `--to names the source database itself (${redactUrl(options.to)}): pass another database`);
    if (!(await schemaExists(source, schema))) throw new AppError('BAD_REQUEST', 'MOVE_DATA.NO_SCHEMA', `the source database ${redactUrl(options.from)} has no schema "${schema}": nothing to move (is DATABASE_URL or --from the database that holds ${schema}'s data?)`);
    const moved = await movedTo(source, schema);
    if (moved) throw new AppError('CONFLICT', 'MOVE_DATA.ALREADY_MOVED', `${schema}'s data in ${redactUrl(options.from)} was already moved to ${moved.to} at ${moved.at.toISOString()}: move it from there (--from that database)`);
    const running = await moduleConnections(source, schema);
    if (running.length > 0) {
      throw new AppError('CONFLICT', 'MOVE_DATA.MODULE_RUNNING', `${running.length} connection(s) of a process that runs ${schema} are open on the source (${running.join('; ')}): stop the processes that run ${schema} (their events wait in Redis and the outboxes meanwhile), then run move-data again`);
    }

    await source.query('begin isolation level repeatable read read only');
    const tables = await tablesOf(source, schema);
    const expected = new Map<string, { rows: number; checksum: string }>();
    for (const table of tables.keys()) expected.set(table, await fingerprint(source, schema, table));

    const sourceUrl = redactUrl(options.from);
    let reports: TableReport[] | undefined;
    if (await schemaExists(target, schema)) {
      const stale = await movedTo(target, schema);
      const copied = (await tableExists(target, schema, COPIED_TABLE)) ? (await target.query<{ copied_from: string }>(`select copied_from from "${schema}"."${COPIED_TABLE}"`)).rows[0]?.copied_from : undefined;
      if (copied === sourceUrl && !stale) {
        // An earlier run committed the copy and was stopped before it closed the source: check it, then finish.
        log(`the target already holds a copy of ${schema} from this source (an interrupted move): checking it against the source`);
        reports = [];
        for (const [table, want] of expected) {
          const got = await fingerprint(target, schema, table);
          if (got.rows !== want.rows || got.checksum !== want.checksum) {
            throw new AppError('CONFLICT', 'MOVE_DATA.TARGET_DIFFERS', `the target's ${schema}.${table} differs from the source (${got.rows} vs ${want.rows} rows): something wrote to it; drop the schema "${schema}" in the target and run move-data again`);
          }
          reports.push({ table, ...got, seconds: 0 });
        }
      } else if (!stale) {
        throw new AppError('CONFLICT', 'MOVE_DATA.TARGET_HAS_SCHEMA', `the target database ${redactUrl(options.to)} already has a schema "${schema}" that move-data did not copy there: pass another database, or drop that schema if it holds nothing you need`);
      } else {
        log(`the target holds an old copy of ${schema}, marked moved to ${stale.to}: it is replaced`);
      }
    }

    if (!reports) {
      reports = [];
      await knex.transaction(async (trx) => {
        await trx.raw("set local timezone = 'UTC'");
        await trx.raw(`drop schema if exists "${schema}" cascade`);
        await trx.raw(`create schema "${schema}"`);
        await trx.raw(`set local search_path = "${schema}"`);
        log(`  schema ${schema} and its tables created in the target by its migrations`);
        const migrations = [...KERNEL_MIGRATIONS, ...(options.migrationsDir === null ? [] : await loadMigrations(options.migrationsDir))];
        for (const migration of migrations) await migration.up(trx);
        await trx.raw('create table schema_migrations (name text primary key, applied_at timestamptz not null default now())');
        const created = new Set((await trx.raw('select table_name from information_schema.tables where table_schema = ?', [schema])).rows.map((r: { table_name: string }) => r.table_name));
        const missing = [...tables.keys()].filter((t) => !created.has(t));
        if (missing.length > 0) throw new AppError('CONFLICT', 'MOVE_DATA.TABLES_DIFFER', `the migrations in ${options.migrationsDir} do not create ${missing.join(', ')}, which the source has: run move-data from the code version that created them`);
        await grantModuleRole(trx, schema);
        log(`  role ${moduleRoleName(schema)} granted its schema in the target`);
        const connection = (await trx.client.acquireConnection()) as pg.Client;
        for (const [table, columns] of tables) {
          const want = expected.get(table)!;
          const started = Date.now();
          let copied = 0;
          let lastReport = started;
          // Progress on a large table: every second, and at each quarter of its rows (so a fast copy shows some too).
          const quarter = Math.ceil(want.rows / 4);
          let nextQuarter = quarter;
          const counter = new Transform({
            transform(chunk: Buffer, _encoding, done) {
              for (const byte of chunk) if (byte === 10) copied += 1;
              const now = Date.now();
              if (want.rows >= progressRows && (now - lastReport >= 1_000 || (copied >= nextQuarter && copied < want.rows))) {
                lastReport = now;
                while (nextQuarter <= copied) nextQuarter += quarter;
                log(`    ${table}: ${copied.toLocaleString('en-US')} of ${want.rows.toLocaleString('en-US')} rows, ${Math.round(copied / (Math.max(now - started, 1) / 1000)).toLocaleString('en-US')} rows/s`);
              }
              done(null, chunk);
            },
          });
          await trx.raw(`truncate "${schema}"."${table}" cascade`);
          await pipeline(
            source.query(copyTo(`copy (select ${quoted(columns)} from "${schema}"."${table}") to stdout`)),
            counter,
            connection.query(copyFrom(`copy "${schema}"."${table}" (${quoted(columns)}) from stdin`)),
          );
          const got = await fingerprint(connection, schema, table);
          const seconds = (Date.now() - started) / 1000;
          if (got.rows !== want.rows || got.checksum !== want.checksum) {
            throw new AppError('INTERNAL', 'MOVE_DATA.VERIFY_FAILED', `${schema}.${table} did not verify after the copy (${got.rows} rows, checksum ${got.checksum}; the source has ${want.rows}, ${want.checksum}): nothing was changed, run move-data again`);
          }
          log(`  ${table}: ${got.rows.toLocaleString('en-US')} rows copied and verified (count and checksum) in ${seconds.toFixed(2)} s${got.rows > 0 ? `, ${Math.round(got.rows / Math.max(seconds, 0.001)).toLocaleString('en-US')} rows/s` : ''}`);
          reports!.push({ table, ...got, seconds });
        }
        await resetSequences(trx, schema);
        await trx.raw(`create table "${schema}"."${COPIED_TABLE}" (copied_from text not null, copied_at timestamptz not null default now())`);
        await trx.raw(`insert into "${schema}"."${COPIED_TABLE}" (copied_from) values (?)`, [sourceUrl]);
      });
      log(`  target committed`);
      // Test-only, never loaded unless MMK_FAULT_POINTS is set: a kill between the target's commit and the source's mark.
      if (process.env.MMK_FAULT_POINTS) (await import('../testing/fault-points.js')).parseFaultPoints(process.env.MMK_FAULT_POINTS).hit('move-data.after-target-commit', schema, {});
    }
    await source.query('commit');

    // Only now, with the target verified and committed: close the source copy.
    await source.query('begin');
    await source.query(`create table if not exists "${schema}"."${MOVED_TABLE}" (moved_to text not null, moved_at timestamptz not null default now())`);
    await source.query(`insert into "${schema}"."${MOVED_TABLE}" (moved_to) values ($1)`, [redactUrl(options.to)]);
    const role = moduleRoleName(schema);
    const hasRole = (await source.query('select 1 from pg_roles where rolname = $1', [role])).rowCount! > 0;
    if (hasRole) await source.query(`revoke insert, update, delete, truncate on all tables in schema "${schema}" from "${role}"`);
    await source.query('commit');
    log(`  source marked moved to ${redactUrl(options.to)}${hasRole ? `; ${role} can no longer write there` : ''}`);
    return reports;
  } catch (error) {
    await source.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    await Promise.allSettled([source.end(), target.end(), knex.destroy()]);
  }
}
