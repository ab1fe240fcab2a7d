import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Database } from '../db/module-db.js';
import { createPostgresDatabase } from '../db/postgres-database.js';
import { assertPostgresReachable } from '../db/postgres-reachable.js';

/**
 * PostgreSQL when `DATABASE_URL` is set, otherwise PGlite under `<DATA_DIR>/pglite`.
 * PGlite is loaded only when used: a process on PostgreSQL does not carry its
 * 8 MB of heap. A PostgreSQL server that cannot be reached stops it with one
 * line naming `DATABASE_URL` (`KERNEL.DATABASE_UNREACHABLE`).
 *
 * @example
 * const db = await openDatabase(loadConfig(process.env));
 */
export async function openDatabase(config: Config, logger?: Logger): Promise<Database> {
  if (config.databaseUrl) {
    await assertPostgresReachable(config.databaseUrl);
    return createPostgresDatabase({
      url: config.databaseUrl,
      poolMax: config.databasePoolMax,
      moduleRoles: config.databaseModuleRoles,
      nestingCheck: config.databaseNestingCheck,
      logger,
    });
  }
  const { createPgliteDatabase } = await import('../db/pglite-database.js');
  return createPgliteDatabase({ dataDir: join(config.dataDir, 'pglite'), logger });
}
