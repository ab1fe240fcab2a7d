import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, listDeadLetters, loadConfig, on, replayDeadLetter, type App } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { OrderPlacedProbe, probeModule } from './support/probe-module.js';
import { ShopClient } from './support/shop-client.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// A module whose handler is broken for one particular order: a poison event.
let poisonOrderId = '';
let broken = true;
const attemptsAt: number[] = [];
let effects = 0;
const probe = probeModule([
  on(OrderPlacedProbe, 'audit', async ({ orderId }) => {
    if (orderId !== poisonOrderId) return;
    attemptsAt.push(Date.now());
    if (broken) throw new Error('audit is broken for this order');
    effects += 1;
  }),
]);

describe('BullMQ: a poison event', () => {
  let database: TestDatabase;
  let prefix: string;
  let app: App;
  let shop: ShopClient;
  beforeAll(async () => {
    database = await createTestDatabase('mmk_poison');
    prefix = testQueuePrefix();
    const config = loadConfig({
      PORT: '0',
      LOG_LEVEL: 'silent',
      DATABASE_URL: database.url,
      EVENT_BUS: 'bullmq',
      REDIS_URL: TEST_REDIS_URL,
      EVENT_QUEUE_PREFIX: prefix,
      EVENT_MAX_ATTEMPTS: '4',
    });
    app = await createApp({ modules: [...SHOP_MODULES, probe], config, retry: { baseDelayMs: 100 } });
    shop = new ShopClient((await app.start()).url);
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
  });

  it('is retried with growing delays, dead-lettered, and does not hold up other events', async () => {
    const product = await shop.createProduct(10, 100);
    const wallet = await shop.createWallet(10_000);
    const poison = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    poisonOrderId = poison.body.id;

    const probe = app.database.forModule('probe');
    await expect.poll(() => probe.read((k) => k('dead_letters').select('*')), { timeout: 20_000 }).toHaveLength(1);
    const [letter] = await probe.read((k) => k('dead_letters').select('*'));
    expect(letter).toMatchObject({ handler: 'probe.audit', event_name: 'orders.OrderPlaced', attempts: 4, error: 'audit is broken for this order' });
    expect(attemptsAt).toHaveLength(4);
    const gaps = attemptsAt.slice(1).map((t, i) => t - attemptsAt[i]!);
    // Exponential backoff from 100 ms: each retry waits at least 100, 200, 400 ms (a busy machine adds, never subtracts).
    gaps.forEach((gap, i) => expect(gap, `wait before retry ${i + 1}`).toBeGreaterThanOrEqual(100 * 2 ** i - 10));

    // The saga of the poisoned order itself and of later orders flows on.
    const later = await Promise.all(Array.from({ length: 5 }, () => shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])));
    const settled = await shop.waitSettled([poison.body.id, ...later.map((p) => p.body.id)]);
    expect(settled.map((o) => o.status)).toEqual(Array(6).fill('confirmed'));
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
  });
});
