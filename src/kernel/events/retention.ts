import type { Logger } from 'pino';
import { assertIdentifier, type ModuleDb } from '../db/module-db.js';

function quoteIdentifier(name: string): string {
  return `"${assertIdentifier(name)}"`;
}

/**
 * How much longer the inbox keeps its records than the outbox keeps published
 * events. An event's inbox records are never older than the event, but in a
 * split topology the publisher's and the consumer's databases have clocks of
 * their own: the margin keeps the inbox records of every event still in an
 * outbox however those clocks differ, so delivering it again changes nothing.
 */
export const INBOX_RETENTION_MARGIN_MS = 3_600_000;
export const DEFAULT_RETENTION_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_RETENTION_BATCH_SIZE = 1_000;

/** `outbox`, `inbox`, or a table of the module's own that it handed the kit (`ModuleParts.retention`). */
export type RetentionTable = string;

/** A table of a module's own whose rows go once the time in `column` is past the retention, like published events. */
export interface RetainedTable {
  table: string;
  /** A `timestamptz` column, preferably indexed. */
  column: string;
}

export interface RetentionPurgerOptions {
  db: ModuleDb;
  logger: Logger;
  /** Published outbox rows of events older than this (by `occurred_at`) go; inbox records (by `processed_at`) are kept `INBOX_RETENTION_MARGIN_MS` longer. */
  retentionMs: number;
  /** Time between two rounds; the first round runs at start. */
  intervalMs?: number;
  /** Rows deleted per statement: each statement is short, so it never holds locks for long. */
  batchSize?: number;
  /** Tables of the module's own purged with the same retention (idempotency keys, say). */
  tables?: readonly RetainedTable[];
  /** Called with the rows deleted by each statement that deleted some (metrics). */
  onPurged?: (table: RetentionTable, count: number) => void;
}

export interface PurgeResult {
  outbox: number;
  inbox: number;
  /** Rows of the module's own tables, by table. */
  tables?: Record<string, number>;
}

/**
 * Deletes the published outbox rows and the inbox records of one module that
 * are older than the retention, in short statements of `batchSize` rows, every
 * `intervalMs`. Unpublished outbox rows and dead letters are never touched.
 * Several processes may purge the same module: a row already deleted by one
 * is skipped by the other.
 *
 * @example
 * const purger = new RetentionPurger({ db, logger, retentionMs: 168 * 3_600_000 });
 * purger.start();
 * await purger.stop(); // waits for the statement in flight
 */
export class RetentionPurger {
  readonly #options: Required<Omit<RetentionPurgerOptions, 'onPurged'>> & Pick<RetentionPurgerOptions, 'onPurged'>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopping = false;
  #failing = false;

  constructor(options: RetentionPurgerOptions) {
    this.#options = { intervalMs: DEFAULT_RETENTION_INTERVAL_MS, batchSize: DEFAULT_RETENTION_BATCH_SIZE, tables: [], ...options };
  }

  start(): void {
    if (this.#timer) return;
    this.#stopping = false;
    const tick = () => {
      this.#running = this.#round().finally(() => {
        if (this.#timer && !this.#stopping) this.#timer = setTimeout(tick, this.#options.intervalMs);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  /** Stops after the statement in flight. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One round now: every row past the retention, batch by batch. */
  async purgeOnce(): Promise<PurgeResult> {
    const outbox = await this.#purgeOutbox();
    const inbox = await this.#purgeInbox();
    if (this.#options.tables.length === 0) return { outbox, inbox };
    const tables: Record<string, number> = {};
    for (const retained of this.#options.tables) tables[retained.table] = await this.#purgeTable(retained);
    return { outbox, inbox, tables };
  }

  async #round(): Promise<void> {
    const { db, logger, retentionMs } = this.#options;
    try {
      const { outbox, inbox, tables } = await this.purgeOnce();
      if (this.#failing) logger.info({ schema: db.schema }, 'purging old events works again');
      this.#failing = false;
      const own = Object.values(tables ?? {}).reduce((sum, n) => sum + n, 0);
      if (outbox + inbox + own > 0) logger.info({ schema: db.schema, outbox, inbox, ...(own > 0 ? { tables } : {}), retentionHours: retentionMs / 3_600_000 }, 'purged old events');
    } catch (error) {
      // Once until it recovers: a database that refuses (down, or the module's data moved away) would log every round.
      if (!this.#failing) logger.warn({ err: error, schema: db.schema }, 'purging old events failed; tried again next round');
      this.#failing = true;
    }
  }

  /**
   * Published rows whose event occurred before the retention, by `seq`, up
   * to the first row that occurred within it: `seq` follows `occurred_at`
   * (both come from the inserting transaction), so that row bounds the walk
   * of the primary key, and no index on a timestamp has to be kept up on
   * every publish.
   *
   * By `occurred_at`, not `published_at`: an event's inbox records are never
   * older than the event, so every event still in an outbox keeps its inbox
   * records (purged by the same retention plus the margin), even one that
   * `events republish` published again much later. Redelivering it, or
   * republishing it once more, is a no-op for the handlers that had it.
   */
  async #purgeOutbox(): Promise<number> {
    const { db, retentionMs, batchSize } = this.#options;
    const secs = retentionMs / 1000;
    const [bound] = await db.query<{ seq: string | number }>('select seq from outbox where occurred_at >= now() - make_interval(secs => $1) order by seq limit 1', [secs]);
    // The published_at test is repeated outside the subselect: a row made unpublished meanwhile (republished) is re-checked and kept.
    const sql = `with purged as (
        delete from outbox
         where seq = any(array(select seq from outbox
                                where published_at is not null and occurred_at < now() - make_interval(secs => $1) ${bound ? 'and seq < $3' : ''}
                                order by seq limit $2))
           and published_at is not null and occurred_at < now() - make_interval(secs => $1)
        returning 1)
      select count(*)::int as count from purged`;
    return this.#inBatches('outbox', sql, bound ? [secs, batchSize, bound.seq] : [secs, batchSize]);
  }

  /** Inbox records by physical address: no key orders them by age, and a record is never updated. */
  async #purgeInbox(): Promise<number> {
    const { retentionMs, batchSize } = this.#options;
    const secs = (retentionMs + INBOX_RETENTION_MARGIN_MS) / 1000;
    const sql = `with purged as (
        delete from inbox
         where ctid = any(array(select ctid from inbox where processed_at < now() - make_interval(secs => $1) limit $2))
           and processed_at < now() - make_interval(secs => $1)
        returning 1)
      select count(*)::int as count from purged`;
    return this.#inBatches('inbox', sql, [secs, batchSize]);
  }

  /** Rows of a module's own table past the retention, by physical address, like the inbox. */
  async #purgeTable({ table, column }: RetainedTable): Promise<number> {
    const { retentionMs, batchSize } = this.#options;
    const t = quoteIdentifier(table);
    const c = quoteIdentifier(column);
    const sql = `with purged as (
        delete from ${t}
         where ctid = any(array(select ctid from ${t} where ${c} < now() - make_interval(secs => $1) limit $2))
           and ${c} < now() - make_interval(secs => $1)
        returning 1)
      select count(*)::int as count from purged`;
    return this.#inBatches(table, sql, [retentionMs / 1000, batchSize]);
  }

  /** Runs one delete statement until it deletes less than a batch (or the purger stops). */
  async #inBatches(table: RetentionTable, sql: string, params: unknown[]): Promise<number> {
    const { db, batchSize, onPurged } = this.#options;
    let total = 0;
    for (;;) {
      const [row] = await db.query<{ count: number }>(sql, params);
      const deleted = Number(row?.count ?? 0);
      total += deleted;
      if (deleted > 0) onPurged?.(table, deleted);
      if (deleted < batchSize || this.#stopping) return total;
    }
  }
}
