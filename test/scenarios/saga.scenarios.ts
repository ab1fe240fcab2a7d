import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerSettled } from '../support/event-ledger.js';
import { expectInvariants } from '../support/invariants.js';
import type { RunningShop, Topology } from '../support/topologies.js';

/**
 * The order saga end to end over HTTP, written once and run against every
 * topology (DESIGN.md section 7). `more` registers a topology's own tests in
 * the same suite, against the same running shop.
 */
export function sagaScenarios(topology: Topology, more?: (running: () => RunningShop) => void): void {
  describe(`order saga on ${topology.name}`, () => {
    let running: RunningShop;
    beforeAll(async () => {
      running = await topology.start();
    });
    afterAll(async () => {
      await running?.stop();
    });
    // After every scenario: every event relayed and handled once by each consumer, no dead letters, no failed attempts.
    afterEach(async () => {
      await expectLedgerSettled(running.ledger);
    });

    it('confirms an order with stock and money, debits once and ships once', async () => {
      const { shop } = running;
      const product = await shop.createProduct(5, 1_250);
      const wallet = await shop.createWallet(10_000);
      const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 2 }]);
      expect(placed.status).toBe(202);
      expect(placed.body).toMatchObject({ status: 'pending', totalCents: 2_500 });

      const [order] = await shop.waitSettled([placed.body.id]);
      expect(order).toMatchObject({ status: 'confirmed', totalCents: 2_500 });
      expect(order!.cancelReason).toBeUndefined();
      expect((await shop.getProduct(product.id)).stock).toBe(3);
      expect((await shop.getWallet(wallet.customerId)).balanceCents).toBe(7_500);
      // The shipment follows OrderConfirmed, so it may appear a moment after the order settles.
      await expect.poll(() => shop.shipmentsOf(order!.id), { timeout: 10_000 }).toEqual([{ id: expect.any(String), orderId: order!.id, status: 'preparing' }]);
    });

    it('cancels an order for more units than available as out_of_stock and holds nothing', async () => {
      const { shop } = running;
      const scarce = await shop.createProduct(1, 100);
      const plenty = await shop.createProduct(50, 100);
      const wallet = await shop.createWallet(10_000);
      const placed = await shop.placeOrder(wallet.customerId, [
        { productId: plenty.id, quantity: 3 },
        { productId: scarce.id, quantity: 2 },
      ]);
      const [order] = await shop.waitSettled([placed.body.id]);
      expect(order).toMatchObject({ status: 'cancelled', cancelReason: 'out_of_stock' });
      // All or nothing: the available product was not held either.
      expect((await shop.getProduct(plenty.id)).stock).toBe(50);
      expect((await shop.getProduct(scarce.id)).stock).toBe(1);
      expect((await shop.getWallet(wallet.customerId)).balanceCents).toBe(10_000);
      expect(await shop.shipmentsOf(order!.id)).toEqual([]);
    });

    it('cancels an order the wallet cannot pay as payment_declined and releases its stock', async () => {
      const { shop } = running;
      const product = await shop.createProduct(4, 3_000);
      const poor = await shop.createWallet(5_000);
      const placed = await shop.placeOrder(poor.customerId, [{ productId: product.id, quantity: 2 }]);
      const [order] = await shop.waitSettled([placed.body.id]);
      expect(order).toMatchObject({ status: 'cancelled', cancelReason: 'payment_declined' });
      await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 10_000 }).toBe(4);
      expect((await shop.getWallet(poor.customerId)).balanceCents).toBe(5_000);
      expect(await shop.shipmentsOf(order!.id)).toEqual([]);
    });

    it('declines a customer without a wallet', async () => {
      const { shop } = running;
      const product = await shop.createProduct(2, 100);
      const placed = await shop.placeOrder('nobody-has-this-wallet', [{ productId: product.id, quantity: 1 }]);
      const [order] = await shop.waitSettled([placed.body.id]);
      expect(order).toMatchObject({ status: 'cancelled', cancelReason: 'payment_declined' });
      await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 10_000 }).toBe(2);
    });

    it('keeps every invariant over a mixed batch of orders', async () => {
      const { shop } = running;
      const products = await Promise.all([shop.createProduct(6, 700), shop.createProduct(3, 1_100)]);
      const wallets = await Promise.all([shop.createWallet(5_000), shop.createWallet(2_000), shop.createWallet(100_000)]);
      const orderIds: string[] = [];
      for (let i = 0; i < 15; i += 1) {
        const wallet = wallets[i % wallets.length]!;
        const product = products[i % products.length]!;
        const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 + (i % 2) }]);
        expect(placed.status).toBe(202);
        orderIds.push(placed.body.id);
      }
      await expectInvariants(
        shop,
        {
          products: products.map((p) => ({ id: p.id, initialStock: p.stock })),
          wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
          orderIds,
        },
        { ledger: running.ledger },
      );
    });

    it('rejects an order for an unknown product with 422 and stores nothing', async () => {
      const { shop, ledger } = running;
      const wallet = await shop.createWallet(1_000);
      const known = await shop.createProduct(5, 100);
      const before = await expectLedgerSettled(ledger);
      const res = await shop.placeOrder(wallet.customerId, [
        { productId: known.id, quantity: 1 },
        { productId: '00000000-0000-4000-8000-000000000000', quantity: 1 },
      ]);
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('CATALOG.UNKNOWN_PRODUCT');
      // No order, no event, nothing held or debited.
      expect(await shop.ordersOf(wallet.customerId)).toEqual([]);
      const after = await expectLedgerSettled(ledger);
      expect(Object.fromEntries(after.published)).toEqual(Object.fromEntries(before.published));
      expect((await shop.getProduct(known.id)).stock).toBe(5);
      expect((await shop.getWallet(wallet.customerId)).balanceCents).toBe(1_000);
    });

    more?.(() => running);
  });
}
