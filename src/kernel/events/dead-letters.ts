import type { Knex } from 'knex';
import type { Database } from '../db/module-db.js';
import type { EventConsumer, EventEnvelope } from './envelope.js';

/** An event whose handler kept failing, as stored in the consuming module's `dead_letters` table. */
export interface DeadLetter {
  id: string;
  /** The module (schema) that holds the dead letter: the handler's module. */
  module: string;
  /** `<module>.<handler>`, the consumer's handlerId. */
  handler: string;
  eventId: string;
  eventName: string;
  eventVersion: number;
  envelope: EventEnvelope;
  /** The message of the last failure. */
  error: string;
  attempts: number;
  failedAt: Date;
  /** When a replay last succeeded (handled or duplicate); null while pending. */
  replayedAt: Date | null;
}

export interface ListDeadLettersOptions {
  /** The modules to look in (their schemas). */
  modules: readonly string[];
  /** Also the ones already replayed; pending ones only by default. */
  includeReplayed?: boolean;
  /** At most this many, newest first; all when absent. */
  limit?: number;
}

/** Dead letters of one module: all of them and those still pending replay. */
export interface DeadLetterCount {
  module: string;
  total: number;
  pending: number;
}

export type ReplayOutcome = 'handled' | 'duplicate' | 'failed' | 'skipped';

export interface ReplayResult {
  outcome: ReplayOutcome;
  /** The dead letter after the replay (replayedAt set, or error and attempts updated). */
  deadLetter: DeadLetter;
  /** Why it failed, when `outcome` is `failed`. */
  error?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `value` has the shape of a dead-letter id (a UUID). */
export function isDeadLetterId(value: string): boolean {
  return UUID.test(value);
}

type Row = Record<string, any>;

function toDeadLetter(module: string, row: Row): DeadLetter {
  return {
    id: row.id,
    module,
    handler: row.handler,
    eventId: row.event_id,
    eventName: row.event_name,
    eventVersion: Number(row.event_version),
    envelope: typeof row.envelope === 'string' ? JSON.parse(row.envelope) : row.envelope,
    error: row.error,
    attempts: Number(row.attempts),
    failedAt: new Date(row.failed_at),
    replayedAt: row.replayed_at == null ? null : new Date(row.replayed_at),
  };
}

/**
 * Dead letters of the given modules, newest first.
 *
 * @example
 * const pending = await listDeadLetters(app.database, { modules: ['catalog', 'shipping'], limit: 20 });
 */
export async function listDeadLetters(database: Database, options: ListDeadLettersOptions): Promise<DeadLetter[]> {
  const found: DeadLetter[] = [];
  // One module after the other: an operator tool, and the first failure stops the rest cleanly.
  for (const module of options.modules) {
    const rows = await database.forModule(module).read((k) => {
      const query = k('dead_letters').select('*').orderBy([{ column: 'failed_at', order: 'desc' }, { column: 'id' }]);
      if (!options.includeReplayed) query.whereNull('replayed_at');
      return options.limit === undefined ? query : query.limit(options.limit);
    });
    found.push(...rows.map((row: Row) => toDeadLetter(module, row)));
  }
  const all = found.sort((a, b) => b.failedAt.getTime() - a.failedAt.getTime() || a.id.localeCompare(b.id));
  return options.limit === undefined ? all : all.slice(0, options.limit);
}

/**
 * One dead letter by id, looked up in each of `modules`; undefined when no module holds it
 * (or `id` is not a UUID).
 *
 * @example
 * const deadLetter = await getDeadLetter(app.database, ['shipping'], '0b7c…');
 */
export async function getDeadLetter(database: Database, modules: readonly string[], id: string): Promise<DeadLetter | undefined> {
  if (!isDeadLetterId(id)) return undefined;
  for (const module of modules) {
    const row = await database.forModule(module).read((k) => k('dead_letters').where({ id }).first());
    if (row) return toDeadLetter(module, row);
  }
  return undefined;
}

/**
 * How many dead letters each module holds, and how many still wait for a replay.
 *
 * @example
 * const counts = await countDeadLetters(app.database, ['catalog', 'orders']); // [{ module: 'catalog', total: 2, pending: 1 }, …]
 */
export async function countDeadLetters(database: Database, modules: readonly string[]): Promise<DeadLetterCount[]> {
  const counts: DeadLetterCount[] = [];
  for (const module of modules) {
    const row = await database
      .forModule(module)
      .read((k) => k('dead_letters').first(k.raw('count(*)::int as total'), k.raw('(count(*) filter (where replayed_at is null))::int as pending')));
    counts.push({ module, total: Number(row?.total ?? 0), pending: Number(row?.pending ?? 0) });
  }
  return counts;
}

/**
 * Delivers a dead-lettered event once more to its handler, in this process. The
 * consumer's inbox makes this safe: an event the handler already processed is a
 * `duplicate` no-op. On success the dead letter is marked replayed; if the handler
 * fails again the row stays, with the new error and one more attempt. A dead letter
 * already replayed is `skipped` unless `force`. A handler that is not among
 * `consumers` is `failed` and the row is left as it was (the handler never ran).
 *
 * @example
 * const result = await replayDeadLetter(app.database, app.consumers, deadLetter);
 * if (result.outcome === 'failed') console.error(result.error);
 */
export async function replayDeadLetter(
  database: Database,
  consumers: readonly EventConsumer[],
  deadLetter: DeadLetter,
  options: { force?: boolean } = {},
): Promise<ReplayResult> {
  if (deadLetter.replayedAt && !options.force) return { outcome: 'skipped', deadLetter };
  const consumer = consumers.find((c) => c.handlerId === deadLetter.handler);
  if (!consumer) return { outcome: 'failed', deadLetter, error: `no handler ${deadLetter.handler} in this process` };
  const db = database.forModule(deadLetter.module);
  const update = (change: (k: Knex) => Row) =>
    db.read(async (k) => {
      const [row] = await k('dead_letters').where({ id: deadLetter.id }).update(change(k)).returning('*');
      return row ? toDeadLetter(deadLetter.module, row) : deadLetter;
    });
  let outcome: 'handled' | 'duplicate';
  try {
    outcome = await consumer.handle(deadLetter.envelope);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const updated = await update((k) => ({ error: message, attempts: k.raw('attempts + 1'), failed_at: k.fn.now() }));
    return { outcome: 'failed', deadLetter: updated, error: message };
  }
  return { outcome, deadLetter: await update((k) => ({ replayed_at: k.fn.now() })) };
}
