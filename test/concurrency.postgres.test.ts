import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_MODULES } from '../src/app.js';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { postgresLedger, type EventLedger } from './support/event-ledger.js';
import { expectInvariants } from './support/invariants.js';
import { createTestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { bullmqTopology, dropRedisPrefix, postgresTopology, TEST_REDIS_URL, testQueuePrefix, type Topology } from './support/topologies.js';

// Reservations must really run at once for these tests to mean anything. They
// do: in one process, each handler runs up to EVENT_HANDLER_CONCURRENCY (4)
// transactions at once, its events spread over lanes by correlation id (one
// per order here); with two processes on one database, both relay and handle.
// `npm run test:mutations` proves it: a read-then-write reservation (a lost
// update) makes these tests fail. Row locks are what make the real code
// correct, and PGlite ignores them: PostgreSQL only, on both transports.

interface System {
  name: string;
  start(): Promise<RunningSystem>;
}

interface RunningSystem {
  /** One client per process; orders are spread over them. */
  shops: ShopClient[];
  ledger: EventLedger;
  stop(): Promise<void>;
}

function inProcess(topology: Topology): System {
  return {
    name: `one process, ${topology.name}`,
    async start() {
      const running = await topology.start();
      return { shops: [running.shop], ledger: running.ledger, stop: () => running.stop() };
    },
  };
}

function twoProcesses(name: string, bus: 'memory' | 'bullmq'): System {
  return {
    name: `two processes, ${name}`,
    async start() {
      const database = await createTestDatabase('mmk_conc');
      const prefix = testQueuePrefix();
      const env = {
        DATABASE_URL: database.url,
        EVENT_BUS: bus,
        ...(bus === 'bullmq' ? { REDIS_URL: TEST_REDIS_URL, EVENT_QUEUE_PREFIX: prefix } : {}),
      };
      const children: ChildApp[] = [];
      try {
        // One after the other: the first migrates, the second finds the schemas ready.
        children.push(await startChildApp(env));
        children.push(await startChildApp(env));
      } catch (error) {
        await Promise.all(children.map((c) => c.kill('SIGKILL')));
        await database.drop();
        throw error;
      }
      return {
        shops: children.map((c) => new ShopClient(c.url)),
        ledger: postgresLedger(database.url, SHOP_MODULES, () => children.map((c) => c.url)),
        async stop() {
          await Promise.all(children.map((c) => c.kill('SIGTERM')));
          await database.drop();
          if (bus === 'bullmq') await dropRedisPrefix(TEST_REDIS_URL, prefix);
        },
      };
    },
  };
}

describe.each([
  inProcess(postgresTopology()),
  inProcess(bullmqTopology()),
  twoProcesses('PostgreSQL + memory bus', 'memory'),
  twoProcesses('PostgreSQL + BullMQ', 'bullmq'),
])('concurrency on $name', (system) => {
  let running: RunningSystem;
  beforeAll(async () => {
    running = await system.start();
  });
  afterAll(async () => {
    await running?.stop();
  });
  const shopFor = (i: number) => running.shops[i % running.shops.length]!;

  it('200 concurrent orders for a product with 10 units confirm exactly 10, and every invariant holds', async () => {
    const shop = running.shops[0]!;
    const product = await shop.createProduct(10, 1_000);
    const wallets = await Promise.all(Array.from({ length: 20 }, () => shop.createWallet(50_000)));

    const placed = await Promise.all(
      Array.from({ length: 200 }, (_, i) => shopFor(i).placeOrderAccepted(wallets[i % wallets.length]!.customerId, [{ productId: product.id, quantity: 1 }])),
    );
    expect(placed.map((p) => p.status)).toEqual(Array(200).fill(202));
    const orderIds = placed.map((p) => p.body.id as string);

    const orders = await shop.waitSettled(orderIds, 60_000);
    expect(orders.filter((o) => o.status === 'confirmed')).toHaveLength(10);
    expect(orders.filter((o) => o.status === 'cancelled' && o.cancelReason === 'out_of_stock')).toHaveLength(190);
    expect((await shop.getProduct(product.id)).stock).toBe(0);
    await expectInvariants(
      shop,
      {
        products: [{ id: product.id, initialStock: 10 }],
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds,
      },
      { ledger: running.ledger },
    );
  });

  it('concurrent orders competing for stock and for money never oversell or overdraw', async () => {
    const shop = running.shops[0]!;
    const products = await Promise.all([shop.createProduct(15, 700), shop.createProduct(15, 1_300)]);
    // Each wallet pays for about three orders: payments decline as well as stock running out.
    const wallets = await Promise.all(Array.from({ length: 8 }, () => shop.createWallet(3_000)));
    const placed = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        shopFor(i).placeOrderAccepted(wallets[i % wallets.length]!.customerId, [
          { productId: products[i % 2]!.id, quantity: 1 },
          { productId: products[(i + 1) % 2]!.id, quantity: 1 + (i % 2) },
        ]),
      ),
    );
    expect(placed.every((p) => p.status === 202)).toBe(true);
    const orderIds = placed.map((p) => p.body.id as string);
    const orders = await shop.waitSettled(orderIds, 60_000);
    expect(new Set(orders.map((o) => o.cancelReason ?? o.status))).toEqual(new Set(['confirmed', 'payment_declined', 'out_of_stock']));
    await expectInvariants(
      shop,
      {
        products: products.map((p) => ({ id: p.id, initialStock: 15 })),
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds,
      },
      { ledger: running.ledger },
    );
  });
});
