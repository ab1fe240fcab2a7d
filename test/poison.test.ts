import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, createApp, listDeadLetters, loadConfig, on, replayDeadLetter, type App } from '../src/kernel/index.js';
import { DEFAULT_RETRY } from '../src/kernel/events/memory-transport.js';
import { SHOP_MODULES } from '../src/app.js';
import { appLedger, expectLedgerSettled } from './support/event-ledger.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { probeModule } from './support/probe-module.js';
import { ShopClient } from './support/shop-client.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// A module whose handler is broken for one customer's orders: their
// OrderPlaced is a poison event for it. Keyed by customer, which is known
// before the order exists, so the handler can never miss the first attempt.
const OrderPlacedAudit = consumes('orders.OrderPlaced', 1, z.object({ orderId: z.uuid(), customerId: z.string() }));
const POISON_CUSTOMER = 'poisoned-customer';

describe.each([
  ['memory bus', { EVENT_BUS: 'memory' }],
  ['BullMQ', { EVENT_BUS: 'bullmq', REDIS_URL: TEST_REDIS_URL }],
])('a poison event on the %s, with the default retry settings', (_name, busEnv) => {
  let broken = true;
  const attemptsAt: number[] = [];
  let effects = 0;
  const probe = probeModule([
    on(OrderPlacedAudit, 'audit', async ({ customerId }) => {
      if (customerId !== POISON_CUSTOMER) return;
      attemptsAt.push(Date.now());
      if (broken) throw new Error('audit is broken for this customer');
      effects += 1;
    }),
  ]);
  const modules = [...SHOP_MODULES, probe];

  let database: TestDatabase;
  let prefix: string;
  let app: App;
  let shop: ShopClient;
  beforeAll(async () => {
    database = await createTestDatabase('mmk_poison');
    prefix = testQueuePrefix();
    // No retry override: the defaults (5 attempts, 100 ms doubling) are what this test is about.
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: database.url, EVENT_QUEUE_PREFIX: prefix, ...busEnv });
    app = await createApp({ modules, config });
    shop = new ShopClient((await app.start()).url);
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
  });

  async function confirmedAndShipped(orderId: string): Promise<void> {
    const [order] = await shop.waitSettled([orderId]);
    expect(order!.status).toBe('confirmed');
    await expect.poll(async () => (await shop.shipmentsOf(orderId)).length, { timeout: 10_000, interval: 10 }).toBe(1);
  }

  it('is retried with growing delays and dead-lettered, and never holds up the events behind it', async () => {
    const product = await shop.createProduct(10, 100);
    const wallet = await shop.createWallet(10_000);
    await shop.createWallet(10_000, POISON_CUSTOMER);
    // A healthy order first, so the pipeline is warm.
    await confirmedAndShipped((await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])).body.id);

    const poison = await shop.placeOrder(POISON_CUSTOMER, [{ productId: product.id, quantity: 1 }]);
    await expect.poll(() => attemptsAt.length, { timeout: 10_000, interval: 5 }).toBeGreaterThanOrEqual(1);
    // A healthy order right behind the poison event, through the same outbox and the same handlers.
    const healthy = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    await confirmedAndShipped(healthy.body.id);
    // It went all the way through while the poison event was still being retried
    // (its retries alone take 100 + 200 + 400 + 800 ms).
    expect(attemptsAt.length).toBeLessThan(DEFAULT_RETRY.maxAttempts);
    expect(await listDeadLetters(app.database, { modules: ['probe'] })).toEqual([]);

    const deadLetters = () => app.database.forModule('probe').read((k) => k('dead_letters').select('*'));
    await expect.poll(deadLetters, { timeout: 20_000 }).toHaveLength(1);
    const [letter] = await deadLetters();
    expect(letter).toMatchObject({ handler: 'probe.audit', event_name: 'orders.OrderPlaced', attempts: DEFAULT_RETRY.maxAttempts, error: 'audit is broken for this customer' });
    expect(attemptsAt).toHaveLength(DEFAULT_RETRY.maxAttempts);
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    // Exponential backoff from 100 ms: each retry waits at least 100, 200, 400, 800 ms (a busy machine adds, never subtracts).
    gaps.forEach((gap, i) => expect(gap, `wait before retry ${i + 1}`).toBeGreaterThanOrEqual(DEFAULT_RETRY.baseDelayMs * 2 ** i - 10));
    // The poisoned order's own saga flowed on: the audit is a side branch.
    await confirmedAndShipped(poison.body.id);
    expect(effects).toBe(0);
  });

  it('once the handler is fixed, a replay from the dead-letter store delivers the event once', async () => {
    broken = false;
    const [letter] = await listDeadLetters(app.database, { modules: ['probe'] });
    expect(letter).toMatchObject({ handler: 'probe.audit', replayedAt: null });
    const first = await replayDeadLetter(app.database, app.consumers, letter!);
    expect(first.outcome).toBe('handled');
    expect(effects).toBe(1);
    // A second replay is refused, and even forced it is a no-op thanks to the inbox.
    expect((await replayDeadLetter(app.database, app.consumers, first.deadLetter)).outcome).toBe('skipped');
    expect((await replayDeadLetter(app.database, app.consumers, first.deadLetter, { force: true })).outcome).toBe('duplicate');
    expect(effects).toBe(1);
    expect(await app.database.forModule('probe').read((k) => k('inbox').where({ handler: 'probe.audit', event_id: letter!.eventId }))).toHaveLength(1);
    // Every event of the run is accounted for: the failed attempts were planted, the dead letter is replayed.
    const ledger = await expectLedgerSettled(appLedger(app, modules), { allowFailures: true });
    expect(Object.fromEntries(ledger.failedAttempts)).toEqual({ 'probe.audit': DEFAULT_RETRY.maxAttempts });
  });
});
