import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants } from './support/invariants.js';
import { startOwnRedis, type OwnRedis } from './support/own-redis.js';
import { bullmqTopology, type RunningShop } from './support/topologies.js';

describe('BullMQ: Redis unreachable for a while under writes', () => {
  let redis: OwnRedis;
  let running: RunningShop;
  beforeAll(async () => {
    redis = await startOwnRedis();
    running = await bullmqTopology({}, 'PostgreSQL + BullMQ on a Redis of its own', { REDIS_URL: redis.url }).start();
  });
  afterAll(async () => {
    await running?.stop();
    await redis?.destroy();
  });

  it('keeps accepting orders while Redis is down, and settles every one once it is back', async () => {
    const { shop } = running;
    const product = await shop.createProduct(30, 250);
    const wallets = await Promise.all([shop.createWallet(2_000), shop.createWallet(50_000)]);
    const place = (i: number) => shop.placeOrder(wallets[i % 2]!.customerId, [{ productId: product.id, quantity: 1 + (i % 3) }]);

    const before = await Promise.all(Array.from({ length: 5 }, (_, i) => place(i)));
    await shop.waitSettled(before.map((p) => p.body.id));

    await redis.kill();
    const during = [];
    for (let i = 0; i < 15; i += 1) during.push(await place(i));
    expect(during.map((p) => p.status)).toEqual(Array(15).fill(202));
    const health = await shop.request('GET', '/health');
    expect(health.status).toBe(503);
    expect(health.body.services.eventBus).toBe('down');
    // Nothing can move while Redis is away: the orders wait, their events in the outbox.
    expect((await shop.getOrder(during[0]!.body.id)).status).toBe('pending');

    await redis.start();
    await expectInvariants(
      shop,
      {
        products: [{ id: product.id, initialStock: 30 }],
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds: [...before, ...during].map((p) => p.body.id),
      },
      { ledger: running.ledger, timeoutMs: 60_000 },
    );
    expect((await shop.request('GET', '/health')).status).toBe(200);
  });
});
