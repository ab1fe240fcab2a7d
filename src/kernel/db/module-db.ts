import type { Knex } from 'knex';
import type { CallContext } from '../context/call-context.js';

/**
 * A module's only way to the database: every query runs in the module's own
 * schema (and, on PostgreSQL, as the module's own role).
 *
 * @example
 * const [row] = await db.query<{ name: string }>('select name from products where id = $1', [id]);
 * const product = await db.read((k) => k('products').where({ id }).first());
 * await db.transaction(async (trx) => { await trx('products').insert(row); });
 */
export interface ModuleDb {
  /** The PostgreSQL schema that holds this module's tables. */
  readonly schema: string;
  /**
   * One SQL statement with `$1`-style parameters, outside a transaction: the
   * fast path for hot reads (no query builder, straight to the driver).
   */
  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs `fn` outside a transaction; unqualified table names resolve to the module's schema. */
  read<T>(fn: (db: Knex) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in one transaction in the module's schema; commits when `fn`
   * resolves. Events published in it carry `context`'s correlation id.
   */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>, context?: CallContext): Promise<T>;
}

/** The schema owner's handle (migrations): knex only. */
export type OwnerDb = Pick<ModuleDb, 'schema' | 'read' | 'transaction'>;

/** The database a process talks to: PGlite embedded, or PostgreSQL (`none`: a pure gateway, which runs no module). */
export interface Database {
  readonly kind: 'pglite' | 'postgres' | 'none';
  /** The scoped handle of one module; the schema must be a plain identifier. */
  forModule(schema: string): ModuleDb;
  /**
   * The schema owner's handle, for migrations only: same schema, but as the
   * connecting user rather than the module's role.
   */
  forOwner(schema: string): OwnerDb;
  /**
   * How ownership is enforced: `roles` (each module's queries run as its own
   * PostgreSQL role) or `search-path` (PGlite, or roles switched off).
   */
  readonly ownership: 'roles' | 'search-path';
  /** Creates the module's schema if missing (idempotent). */
  ensureSchema(schema: string): Promise<void>;
  /** Resolves when the database answers `select 1`. */
  ping(): Promise<void>;
  /** Closes every pool; pending work is finished first. */
  close(): Promise<void>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Throws unless `name` is safe to splice into SQL as an identifier. */
export function assertIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid schema name "${name}": use lower-case letters, digits and _`);
  return name;
}
