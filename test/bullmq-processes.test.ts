import knexFactory from 'knex';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { SHOP_MODULES } from '../src/app.js';
import { postgresLedger } from './support/event-ledger.js';
import { expectInvariants } from './support/invariants.js';
import { expectSurvivesKillMidBurst } from './support/kill-mid-burst.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

/** The sum of a Prometheus counter over all its label sets. */
function counter(text: string, name: string, labelFilter = ''): number {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)`, 'gm'))]
    .filter((m) => m[1]!.includes(labelFilter))
    .reduce((sum, m) => sum + Number(m[2]), 0);
}

describe('BullMQ with real processes', () => {
  let database: TestDatabase;
  let prefix: string;
  let children: ChildApp[] = [];
  const env = () => ({
    DATABASE_URL: database.url,
    EVENT_BUS: 'bullmq',
    REDIS_URL: TEST_REDIS_URL,
    EVENT_QUEUE_PREFIX: prefix,
    // Short locks and leases: a killed process's work is taken over within seconds.
    EVENT_LOCK_MS: '2000',
    EVENT_CLAIM_LEASE_MS: '2000',
  });
  beforeAll(async () => {
    database = await createTestDatabase('mmk_procs');
  });
  afterEach(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    children = [];
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function outboxRows(): Promise<number> {
    const admin = knexFactory({ client: 'pg', connection: database.url, pool: { min: 0, max: 1 } });
    try {
      const { rows } = await admin.raw(
        `select (select count(*) from catalog.outbox) + (select count(*) from orders.outbox) + (select count(*) from payments.outbox) as n`,
      );
      return Number(rows[0].n);
    } finally {
      await admin.destroy();
    }
  }

  it('two processes share the work: every event is relayed once, its effect happens once, the invariants hold', async () => {
    prefix = testQueuePrefix();
    children = [await startChildApp(env()), await startChildApp(env())];
    const shops = children.map((c) => new ShopClient(c.url));
    const product = await shops[0]!.createProduct(40, 500);
    const wallets = await Promise.all([shops[0]!.createWallet(5_000), shops[1]!.createWallet(100_000), shops[1]!.createWallet(3_000)]);
    const placed = await Promise.all(
      Array.from({ length: 60 }, (_, i) => shops[i % 2]!.placeOrder(wallets[i % 3]!.customerId, [{ productId: product.id, quantity: 1 }])),
    );
    expect(placed.every((p) => p.status === 202)).toBe(true);
    await expectInvariants(
      shops[0]!,
      {
        products: [{ id: product.id, initialStock: 40 }],
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds: placed.map((p) => p.body.id as string),
      },
      { ledger: postgresLedger(database.url, SHOP_MODULES, () => children.map((c) => c.url)) },
    );

    const metrics = await Promise.all(shops.map(async (s) => (await s.request('GET', '/metrics')).body as string));
    // Both processes handled events.
    for (const text of metrics) expect(counter(text, 'events_handled_total', 'outcome="handled"')).toBeGreaterThan(0);
    // Every outbox row was handed to Redis by exactly one of the two relays.
    const published = metrics.reduce((sum, text) => sum + counter(text, 'events_published_total'), 0);
    expect(published).toBe(await outboxRows());
    // And each (event, handler) took effect once; every shop event has exactly one consumer, so handled = relayed.
    const handled = metrics.reduce((sum, text) => sum + counter(text, 'events_handled_total', 'outcome="handled"'), 0);
    expect(handled).toBe(published);
  });

  it('a SIGKILL right after a handler committed, before its job completed: the redelivered job is suppressed by the inbox', async () => {
    prefix = testQueuePrefix();
    await expectSurvivesKillMidBurst({
      env: env(),
      stock: 25,
      orders: 50,
      onChild: (c) => (children = [c]),
      ledger: (running) => postgresLedger(database.url, SHOP_MODULES, () => running().map((c) => c.url)),
      settleTimeoutMs: 60_000,
    });
  });
});
