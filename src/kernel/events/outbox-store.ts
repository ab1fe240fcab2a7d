import type { ModuleDb } from '../db/module-db.js';
import type { EventEnvelope } from './envelope.js';

interface OutboxRow {
  seq: string | number;
  id: string;
  event_name: string;
  event_version: number;
  payload: unknown;
  correlation_id: string;
  occurred_at: Date | string;
  trace_parent: string | null;
}

export interface ClaimedEvent {
  seq: string | number;
  envelope: EventEnvelope;
}

/**
 * Claims up to `limit` unpublished events for `leaseMs`. `skip locked` lets
 * several relays (processes) share one outbox without publishing a row twice
 * at once; an expired lease (a crashed relay) makes the row claimable again.
 */
export async function claimEvents(db: ModuleDb, limit: number, leaseMs: number): Promise<ClaimedEvent[]> {
  // One statement, so no explicit transaction: two round trips fewer per relay round.
  const rows = await db.query<OutboxRow>(
    `update outbox set claimed_until = now() + make_interval(secs => $1)
      where seq in (select seq from outbox
                     where published_at is null and (claimed_until is null or claimed_until < now())
                     order by seq limit $2 for update skip locked)
      returning seq, id, event_name, event_version, payload, correlation_id, occurred_at, trace_parent`,
    [leaseMs / 1000, limit],
  );
  return rows
    .sort((a, b) => Number(a.seq) - Number(b.seq))
    .map((row) => ({
      seq: row.seq,
      envelope: {
        id: row.id,
        name: row.event_name,
        version: row.event_version,
        source: db.schema,
        payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
        correlationId: row.correlation_id,
        occurredAt: new Date(row.occurred_at).toISOString(),
        traceparent: row.trace_parent ?? undefined,
      },
    }));
}

/** Marks events as handed to the transport. */
export async function markPublished(db: ModuleDb, seqs: ReadonlyArray<string | number>): Promise<void> {
  if (seqs.length === 0) return;
  await db.query('update outbox set published_at = now(), claimed_until = null where seq = any($1::bigint[])', [seqs]);
}

/** Extends the claim on rows still being handed over. */
export async function renewClaims(db: ModuleDb, seqs: ReadonlyArray<string | number>, leaseMs: number): Promise<void> {
  await db.query('update outbox set claimed_until = now() + make_interval(secs => $1) where seq = any($2::bigint[]) and published_at is null', [leaseMs / 1000, seqs]);
}

/** Drops the claims on these rows, so the next round (of any relay) takes them. */
export async function releaseClaims(db: ModuleDb, seqs: ReadonlyArray<string | number>): Promise<void> {
  if (seqs.length === 0) return;
  await db.query('update outbox set claimed_until = null where seq = any($1::bigint[]) and published_at is null', [seqs]);
}

/** Drops every claim; see OutboxRelayOptions.resetClaimsOnStart. */
export async function releaseAllClaims(db: ModuleDb): Promise<void> {
  await db.read((k) => k('outbox').whereNull('published_at').whereNotNull('claimed_until').update({ claimed_until: null }));
}

/**
 * The age in ms of the oldest event waiting to be relayed: unpublished and not
 * claimed by a live relay (0 when none waits). Events claimed by a relay are
 * being handed over or retried, and count as the handlers' lag, or not at all.
 * Walks the partial index by `seq`, so it stops at the first waiting row.
 */
export async function outboxLag(db: ModuleDb): Promise<number> {
  const [row] = await db.query<{ age: number }>(
    `select (extract(epoch from now() - occurred_at) * 1000)::float8 as age from outbox
      where published_at is null and (claimed_until is null or claimed_until < now())
      order by seq limit 1`,
  );
  return row ? Math.max(0, Math.round(Number(row.age))) : 0;
}

/** Unpublished events and the age of the oldest, for health, metrics and the CLI. */
export async function outboxBacklog(db: ModuleDb): Promise<{ pending: number; oldestAgeMs: number }> {
  const row = await db.read((k) =>
    k('outbox')
      .whereNull('published_at')
      .first(k.raw('count(*)::int as pending'), k.raw('coalesce(extract(epoch from now() - min(occurred_at)) * 1000, 0)::float8 as age')),
  );
  return { pending: Number(row?.pending ?? 0), oldestAgeMs: Math.round(Number(row?.age ?? 0)) };
}

/**
 * Hands the events this module published since `since` back to its relay:
 * marks them unpublished again, so the next round of any running relay claims
 * and publishes them as it does every row. Returns how many.
 *
 * For a broker that lost what it held (a Redis restarted without persistence,
 * or flushed): the outbox still has every event. Going through the relay
 * rather than publishing from here keeps its guarantees: rows are claimed
 * (`skip locked`, under a lease) so no two relays publish a row at once, they
 * go out in `seq` order ahead of the newer rows, and a row is marked published
 * only once the broker stored it, so a crash midway leaves the rest to the
 * next round. Consumers that handled an event already get it again and their
 * inbox makes that a no-op. Rows still unpublished are left as they are.
 */
export async function republishSince(db: ModuleDb, since: Date): Promise<number> {
  const [row] = await db.query<{ n: number }>(
    `with handed as (update outbox set published_at = null, claimed_until = null where published_at >= $1 returning 1)
     select count(*)::int as n from handed`,
    [since],
  );
  return Number(row?.n ?? 0);
}
