import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, createApp, defineEvent, defineModule, loadConfig, on, type App, type Knex, type ModuleContext } from '../src/kernel/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// Group commit and per-event retries, on both transports: a relay round's
// events reach a handler together and share one transaction, yet a failing
// event is retried and dead-lettered alone while the others are handled once.

const Tick = defineEvent('ticks.Tick', 1, z.object({ n: z.number().int() }));
const TickIn = consumes('ticks.Tick', 1, z.object({ n: z.number().int() }));
const MAX_ATTEMPTS = 3;

interface Observed {
  /** Committed handler runs per tick number. */
  committed: Map<number, number>;
  /** Handler runs per tick number, committed or rolled back. */
  runs: Map<number, number>;
  /** The distinct transactions that committed handled ticks. */
  transactions: Set<Knex.Transaction>;
}

let poison = new Set<number>();
let observed: Observed;

function resetObserved(): void {
  observed = { committed: new Map(), runs: new Map(), transactions: new Set() };
}

function ticksModule(onContext: (ctx: ModuleContext) => void) {
  return defineModule({
    name: 'ticks',
    events: [Tick],
    dependsOn: [],
    migrationsDir: false,
    setup: (ctx) => {
      onContext(ctx);
      return {
        handlers: [
          on(TickIn, 'count', async ({ n }, { trx }) => {
            observed.runs.set(n, (observed.runs.get(n) ?? 0) + 1);
            if (poison.has(n)) throw new Error(`tick ${n} is poison`);
            trx.executionPromise.then(
              () => {
                observed.committed.set(n, (observed.committed.get(n) ?? 0) + 1);
                observed.transactions.add(trx);
              },
              () => undefined,
            );
          }),
        ],
      };
    },
  });
}

describe.each([
  ['memory bus', 'memory'],
  ['BullMQ', 'bullmq'],
] as const)('event batching on PostgreSQL + %s', (_label, bus) => {
  let database: TestDatabase;
  let prefix: string;
  let app: App;
  let ctx: ModuleContext;

  beforeAll(async () => {
    database = await createTestDatabase('mmk_batch');
    prefix = testQueuePrefix();
    const config = loadConfig({
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      EVENT_BUS: bus,
      REDIS_URL: TEST_REDIS_URL,
      EVENT_QUEUE_PREFIX: prefix,
      EVENT_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
    });
    app = await createApp({ modules: [ticksModule((c) => (ctx = c))], config, retry: { baseDelayMs: 50 } });
    await app.start();
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
    if (bus === 'bullmq') await dropRedisPrefix(TEST_REDIS_URL, prefix);
  });
  afterEach(() => {
    poison = new Set();
  });

  const publishTicks = (from: number, count: number) =>
    ctx.db.transaction((trx) => ctx.events.publishMany(trx, Tick, Array.from({ length: count }, (_, i) => ({ n: from + i }))));
  const inboxCount = async () => (await ctx.db.query<{ c: number }>('select count(*)::int as c from inbox'))[0]!.c;

  it('handles the events of one commit in far fewer transactions than events, each once', async () => {
    resetObserved();
    await publishTicks(0, 60);
    await expect.poll(() => observed.committed.size, { timeout: 15_000 }).toBe(60);
    expect([...observed.committed.values()].every((times) => times === 1)).toBe(true);
    expect(observed.transactions.size).toBeLessThanOrEqual(5);
    expect(await inboxCount()).toBe(60);
  });

  it('retries and dead-letters failing events one by one, while the rest of their batch is handled once', async () => {
    resetObserved();
    poison = new Set([107, 123]);
    await publishTicks(100, 40);
    const letters = () => ctx.db.query<{ event_id: string; attempts: number; error: string }>('select event_id, attempts, error from dead_letters order by error');
    await expect.poll(async () => (await letters()).length, { timeout: 20_000 }).toBe(2);
    expect((await letters()).map((l) => [l.error, l.attempts])).toEqual([
      ['tick 107 is poison', MAX_ATTEMPTS],
      ['tick 123 is poison', MAX_ATTEMPTS],
    ]);
    // Every good event committed exactly once; the poison ones never.
    await expect.poll(() => observed.committed.size, { timeout: 10_000 }).toBe(38);
    expect([...observed.committed.values()].every((times) => times === 1)).toBe(true);
    expect(observed.committed.has(107) || observed.committed.has(123)).toBe(false);
    // Each poison event ran on every attempt: alone, and before that in a shared transaction when others came with it.
    for (const n of poison) {
      expect(observed.runs.get(n)).toBeGreaterThanOrEqual(MAX_ATTEMPTS);
      expect(observed.runs.get(n)).toBeLessThanOrEqual(2 * MAX_ATTEMPTS);
    }
    // The good ones ran at most twice: in the failed shared transaction, then alone. Retries did not carry them.
    for (let n = 100; n < 140; n++) if (!poison.has(n)) expect(observed.runs.get(n)).toBeLessThanOrEqual(2);
    expect(await inboxCount()).toBe(60 + 38);
  });

  it('still delivers single-event jobs and commits of one event', async () => {
    resetObserved();
    await publishTicks(200, 1);
    await expect.poll(() => observed.committed.get(200), { timeout: 10_000 }).toBe(1);
  });
});
