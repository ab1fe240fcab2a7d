import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants } from './support/invariants.js';
import { bullmqTopology, postgresTopology, type RunningShop } from './support/topologies.js';

// Row locks are what make this work, and PGlite ignores them: PostgreSQL only, on both transports.
describe.each([postgresTopology(), bullmqTopology()])('concurrency on $name', (topology) => {
  let running: RunningShop;
  beforeAll(async () => {
    running = await topology.start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('200 concurrent orders for a product with 10 units confirm exactly 10, and every invariant holds', async () => {
    const { shop } = running;
    const product = await shop.createProduct(10, 1_000);
    const wallets = await Promise.all(Array.from({ length: 20 }, () => shop.createWallet(50_000)));

    const placed = await Promise.all(
      Array.from({ length: 200 }, (_, i) => shop.placeOrder(wallets[i % wallets.length]!.customerId, [{ productId: product.id, quantity: 1 }])),
    );
    expect(placed.map((p) => p.status)).toEqual(Array(200).fill(202));
    const orderIds = placed.map((p) => p.body.id as string);

    const orders = await shop.waitSettled(orderIds, 60_000);
    expect(orders.filter((o) => o.status === 'confirmed')).toHaveLength(10);
    expect(orders.filter((o) => o.status === 'cancelled' && o.cancelReason === 'out_of_stock')).toHaveLength(190);
    expect((await shop.getProduct(product.id)).stock).toBe(0);
    await expectInvariants(shop, {
      products: [{ id: product.id, initialStock: 10 }],
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds,
    });
  });

  it('concurrent orders competing for stock and for money never oversell or overdraw', async () => {
    const { shop } = running;
    const products = await Promise.all([shop.createProduct(15, 700), shop.createProduct(15, 1_300)]);
    // Each wallet pays for about three orders: payments decline as well as stock running out.
    const wallets = await Promise.all(Array.from({ length: 8 }, () => shop.createWallet(3_000)));
    const placed = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        shop.placeOrder(wallets[i % wallets.length]!.customerId, [
          { productId: products[i % 2]!.id, quantity: 1 },
          { productId: products[(i + 1) % 2]!.id, quantity: 1 + (i % 2) },
        ]),
      ),
    );
    expect(placed.every((p) => p.status === 202)).toBe(true);
    const orderIds = placed.map((p) => p.body.id as string);
    const orders = await shop.waitSettled(orderIds, 60_000);
    expect(new Set(orders.map((o) => o.cancelReason ?? o.status))).toEqual(new Set(['confirmed', 'payment_declined', 'out_of_stock']));
    await expectInvariants(shop, {
      products: products.map((p) => ({ id: p.id, initialStock: 15 })),
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds,
    });
  });
});
