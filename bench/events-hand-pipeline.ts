/**
 * The baseline of `npm run bench:events`: the kit's durable work written by
 * hand with `pg` and `bullmq`, no kit code on the way.
 *
 * - producer: one transaction per batch, one multi-row insert into the outbox,
 *   then a nudge to the relay (the kit nudges on commit too);
 * - relay: claim up to a relay batch of rows with `for update skip locked` and
 *   a lease, hand them over, mark them published; at once again after a full
 *   batch or a nudge, else poll (the same statements and loop as the kit's);
 * - hand-over: one BullMQ job per round holding the round's events, with the
 *   kit's job options and ids (bullmq), or a plain function call (memory);
 * - consumer: per job (per round in process) one transaction: a multi-row inbox
 *   insert with `on conflict do nothing`, a no-op handler per fresh event, commit.
 *
 * The tables are the kit's (kernel-tables.ts), in a schema `bench`.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { EventsJob } from './events-job.js';
import { batchWorker, BatchQueue, HANDLER_ID, type Envelope } from './events-bullmq.js';
import type { OpenPipeline, Recorder } from './events-phases.js';

const SCHEMA_SQL = `
  create schema if not exists bench;
  create table if not exists bench.outbox (
    seq bigserial primary key,
    id uuid not null unique,
    event_name text not null,
    event_version integer not null,
    payload jsonb not null,
    correlation_id text not null,
    occurred_at timestamptz not null default now(),
    claimed_until timestamptz,
    published_at timestamptz
  );
  create index if not exists outbox_unpublished on bench.outbox (seq) where published_at is null;
  create table if not exists bench.inbox (
    event_id uuid not null,
    handler text not null,
    processed_at timestamptz not null default now(),
    primary key (event_id, handler)
  )`;

const CLAIM_SQL = `update outbox set claimed_until = now() + make_interval(secs => $1)
  where seq in (select seq from outbox
                 where published_at is null and (claimed_until is null or claimed_until < now())
                 order by seq limit $2 for update skip locked)
  returning seq, id, event_name, event_version, payload, correlation_id, occurred_at`;
const MARK_SQL = 'update outbox set published_at = now(), claimed_until = null where seq = any($1::bigint[])';
const OUTBOX_INSERT = 'insert into outbox (id, event_name, event_version, payload, correlation_id) values ';
const INBOX_INSERT = 'insert into inbox (event_id, handler) values ';

interface OutboxRow {
  seq: string;
  id: string;
  event_name: string;
  event_version: number;
  payload: unknown;
  correlation_id: string;
  occurred_at: Date;
}

/** `($1, $2), ($3, $4), …` for `rows` rows of `columns` parameters. */
function valuesList(rows: number, columns: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r += 1) out.push(`(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(', ')})`);
  return out.join(', ');
}

async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    client.release();
    return result;
  } catch (error) {
    // A connection that cannot even roll back is thrown away.
    await client.query('rollback').then(
      () => client.release(),
      () => client.release(true),
    );
    throw error;
  }
}

/** The outbox relay: one round at a time, again at once after a full batch or a nudge. */
class Relay {
  readonly #pool: pg.Pool;
  readonly #job: EventsJob;
  readonly #deliver: (envelopes: Envelope[]) => Promise<void>;
  readonly #loop: Promise<void>;
  #running = true;
  #nudged = false;
  #wake: (() => void) | undefined;

  constructor(pool: pg.Pool, job: EventsJob, deliver: (envelopes: Envelope[]) => Promise<void>) {
    this.#pool = pool;
    this.#job = job;
    this.#deliver = deliver;
    this.#loop = this.#run();
  }

  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  async #round(): Promise<number> {
    const { relayBatch, relayLeaseMs } = this.#job.delivery;
    const { rows } = await this.#pool.query<OutboxRow>(CLAIM_SQL, [relayLeaseMs / 1000, relayBatch]);
    if (rows.length === 0) return 0;
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    // No lease renewal: a round takes milliseconds against a 10 s lease (the kit sets a timer per round that never fires here).
    await this.#deliver(
      rows.map((row) => ({
        id: row.id,
        name: row.event_name,
        version: row.event_version,
        source: 'bench',
        payload: row.payload,
        correlationId: row.correlation_id,
        occurredAt: row.occurred_at.toISOString(),
      })),
    );
    await this.#pool.query(MARK_SQL, [rows.map((row) => row.seq)]);
    return rows.length;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      this.#nudged = false;
      let published = 0;
      try {
        published = await this.#round();
      } catch (error) {
        console.error('hand-written relay: round failed, the events stay in the outbox:', error);
      }
      if (!this.#running) break;
      if (published === this.#job.delivery.relayBatch || this.#nudged) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.#job.delivery.relayPollMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
  }
}

/** The hand-written durable pipeline on BullMQ or in process. */
export function handPipeline(job: EventsJob, recorder: Recorder, transport: 'bullmq' | 'memory'): OpenPipeline {
  let n = 0;
  const noopHandler = async (_payload: unknown, _client: pg.PoolClient): Promise<void> => {};

  return async ({ relay: relayOn }) => {
    const pool = new pg.Pool({
      connectionString: job.databaseUrl,
      options: '-c search_path=bench',
      application_name: 'bench:hand',
      max: job.delivery.poolMax,
      connectionTimeoutMillis: 30_000,
    });
    pool.on('error', (error) => console.error('hand-written pipeline: connection lost:', error));
    await pool.query(SCHEMA_SQL);

    /** The events of one job (one round) in one transaction with their inbox rows. */
    async function consume(envelopes: Envelope[]): Promise<void> {
      await inTransaction(pool, async (client) => {
        const params = envelopes.flatMap((e) => [e.id, HANDLER_ID]);
        const { rows } = await client.query<{ event_id: string }>(
          `${INBOX_INSERT}${valuesList(envelopes.length, 2)} on conflict (event_id, handler) do nothing returning event_id`,
          params,
        );
        const fresh = new Set(rows.map((row) => row.event_id));
        for (const envelope of envelopes) if (fresh.has(envelope.id)) await noopHandler(envelope.payload, client);
      });
      for (const envelope of envelopes) recorder.handled(envelope.id);
    }

    const queue = transport === 'bullmq' ? await BatchQueue.open(job.redisUrl, job.keyPrefix, job.delivery) : undefined;
    const worker = queue ? batchWorker(job.redisUrl, job.keyPrefix, job.delivery, (j) => consume(j.data.envelopes)) : undefined;
    await worker?.waitUntilReady();
    const relay = relayOn ? new Relay(pool, job, queue ? (envelopes) => queue.add(envelopes) : consume) : undefined;

    return {
      async produce(size) {
        const ids: string[] = [];
        const params: unknown[] = [];
        for (let i = 0; i < size; i += 1) {
          const id = randomUUID();
          ids.push(id);
          params.push(id, 'bench.Tick', 1, JSON.stringify({ n: n++ }), id);
        }
        await inTransaction(pool, async (client) => {
          if (!job.publishOneByOne) return client.query(`${OUTBOX_INSERT}${valuesList(size, 5)}`, params);
          for (let i = 0; i < size; i += 1) await client.query(`${OUTBOX_INSERT}($1, $2, $3, $4, $5)`, params.slice(i * 5, i * 5 + 5));
          return undefined;
        });
        relay?.nudge();
        return ids;
      },
      async close() {
        await relay?.stop();
        await worker?.close();
        await queue?.close();
        await pool.end();
      },
    };
  };
}
