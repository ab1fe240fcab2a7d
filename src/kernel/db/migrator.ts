import { readdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { ConfigError } from '../config/config.js';
import type { Database } from './module-db.js';
import { KERNEL_MIGRATIONS, MOVED_TABLE, type Migration } from './kernel-tables.js';
import { grantModuleRole } from './module-roles.js';

/** What one module's migration run did. Failures are reported, not thrown. */
export interface MigrationResult {
  schema: string;
  applied: string[];
  error?: Error;
}

const MIGRATION_FILE = /^\d{14}_[\w-]+\.(ts|js|mjs)$/;

async function migrationFiles(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    // A typo in the folder must not look like "no migrations": the module would run without its tables.
    throw new Error(`migrations folder ${dir} does not exist: create it, or set migrationsDir: false if the module has no tables of its own`);
  }
}

/** Loads `migrations/<module>/*.ts` in name order; each file exports `up(knex)`. */
export async function loadMigrations(dir: string): Promise<Migration[]> {
  const files = (await migrationFiles(dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
  return Promise.all(
    files.map(async (file) => {
      const mod = (await import(pathToFileURL(resolve(join(dir, file))).href)) as Partial<Migration>;
      if (typeof mod.up !== 'function') throw new Error(`migration ${join(dir, file)} exports no up(knex) function`);
      return { name: basename(file, extname(file)), up: mod.up };
    }),
  );
}

/**
 * A schema whose data `move-data` copied to another database is an old copy:
 * a process that would run the module on it refuses to start, naming where
 * the data went.
 */
async function refuseMovedSchema(trx: Knex.Transaction, schema: string): Promise<void> {
  const table = (await trx.raw('select to_regclass(?) as t', [`"${schema}"."${MOVED_TABLE}"`])) as { rows: Array<{ t: string | null }> };
  if (!table.rows[0]?.t) return;
  const { rows } = (await trx.raw(`select moved_to, moved_at from "${schema}"."${MOVED_TABLE}" order by moved_at desc limit 1`)) as { rows: Array<{ moved_to: string; moved_at: Date | string }> };
  if (!rows[0]) return;
  throw new ConfigError(
    `Invalid setting DATABASE_URL: module ${schema}'s data was moved to ${rows[0].moved_to} at ${new Date(rows[0].moved_at).toISOString()} (npm run move-data); ` +
      `point DATABASE_URL of the process that runs ${schema} there, or move the data back with npm run move-data -- ${schema} --to <this database>`,
  );
}

/**
 * Brings one module's schema up to date: the kernel tables, then the module's
 * own migrations, all in one transaction with the bookkeeping table
 * `<schema>.schema_migrations`. An advisory lock lets several processes start at once.
 * `dir` null: the kernel tables only (a module without tables of its own).
 * On PostgreSQL with module roles, the module's role gets rights on this schema only.
 *
 * @example
 * const result = await migrateModule(db, 'catalog', 'migrations/catalog');
 * if (result.error) console.error(result.error.message);
 */
export async function migrateModule(db: Database, schema: string, dir: string | null): Promise<MigrationResult> {
  const applied: string[] = [];
  try {
    const migrations = [...KERNEL_MIGRATIONS, ...(dir === null ? [] : await loadMigrations(dir))];
    await db.ensureSchema(schema);
    await db.forOwner(schema).transaction(async (trx) => {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`mmk-migrate:${schema}`]);
      await refuseMovedSchema(trx, schema);
      await trx.raw('create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())');
      const done = new Set((await trx('schema_migrations').pluck('name')) as string[]);
      for (const migration of migrations) {
        if (done.has(migration.name)) continue;
        await migration.up(trx);
        await trx('schema_migrations').insert({ name: migration.name });
        applied.push(migration.name);
      }
      if (db.ownership === 'roles') await grantModuleRole(trx, schema);
    });
    return { schema, applied };
  } catch (error) {
    if (error instanceof ConfigError) return { schema, applied: [], error };
    const message = `migrating schema "${schema}" failed: ${(error as Error).message}`;
    return { schema, applied: [], error: new Error(message, { cause: error }) };
  }
}
