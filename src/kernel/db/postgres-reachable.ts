import pg from 'pg';
import { AppError } from '../errors/app-error.js';
import { redactUrl } from './move-data.js';

/** How long the start-up check waits for the server before it gives up. */
const REACH_TIMEOUT_MS = 10_000;

/** What the operator can do, by the SQLSTATE of a refused connection (a network error gets the default). */
const FIX_BY_CODE: Record<string, string> = {
  '3D000': 'create the database (createdb) or fix the name in DATABASE_URL',
  '28P01': 'fix the user or password in DATABASE_URL',
  '28000': 'fix the user in DATABASE_URL, or let it in (pg_hba.conf)',
};

const DEFAULT_FIX = 'start the server, or point DATABASE_URL at a running one (unset it to use the embedded PGlite)';

/**
 * Opens and closes one connection to `url`, so that a server that is down or
 * refuses the connection stops start-up with one line naming `DATABASE_URL`
 * and the fix (`KERNEL.DATABASE_UNREACHABLE`), before the pools would retry
 * and log it once per attempt.
 *
 * @example
 * await assertPostgresReachable('postgres://127.0.0.1:5999/x');
 * // AppError: cannot reach PostgreSQL at postgres://127.0.0.1:5999/x (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:5999; start the server, …
 */
export async function assertPostgresReachable(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: REACH_TIMEOUT_MS, application_name: 'mmk:start' });
  // A server that drops the connection later must not crash the process through an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    const { message, code } = error as { message?: string; code?: unknown };
    const reason = String(message ?? error).split('\n')[0];
    const fix = (typeof code === 'string' && FIX_BY_CODE[code]) || DEFAULT_FIX;
    throw new AppError('UNAVAILABLE', 'KERNEL.DATABASE_UNREACHABLE', `cannot reach PostgreSQL at ${redactUrl(url)} (DATABASE_URL): ${reason}; ${fix}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}
