import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectLedgerSettled } from '../support/event-ledger.js';
import { expectInvariants } from '../support/invariants.js';
import { settledSaga } from '../support/settled-saga.js';
import type { RunningSystem, Topology } from '../support/topologies.js';

/**
 * The order saga end to end over HTTP, written once and run against every
 * topology (DESIGN.md section 7). `more` registers a topology's own tests in
 * the same suite, against the same running shop.
 */
export function sagaScenarios<R extends RunningSystem>(topology: Topology<R>, more?: (running: () => R) => void): void {
  describe(`order saga on ${topology.name}`, () => {
    let running: R;
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

    it('sells 10 units exactly once to 200 concurrent orders', async () => {
      const { shop } = running;
      const product = await shop.createProduct(10, 100);
      const wallets = await Promise.all(Array.from({ length: 20 }, () => shop.createWallet(100_000)));
      // A burst may be shed (429 + Retry-After, admission control): a client comes back when told to.
      const placed = await Promise.all(Array.from({ length: 200 }, (_, i) => shop.placeOrderAccepted(wallets[i % wallets.length]!.customerId, [{ productId: product.id, quantity: 1 }])));
      expect(placed.map((p) => p.status)).toEqual(Array.from({ length: 200 }, () => 202));
      const orderIds = placed.map((p) => p.body.id as string);
      await expectInvariants(
        shop,
        {
          products: [{ id: product.id, initialStock: 10 }],
          wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
          orderIds,
        },
        { ledger: running.ledger, timeoutMs: 60_000 },
      );
      const orders = await shop.waitSettled(orderIds);
      expect(orders.filter((o) => o.status === 'confirmed')).toHaveLength(10);
      expect(orders.filter((o) => o.status === 'cancelled' && o.cancelReason === 'out_of_stock')).toHaveLength(190);
      expect((await shop.getProduct(product.id)).stock).toBe(0);
    }, 120_000);

    it("answers bad input to every module's routes with a 4xx error JSON and stores nothing", async () => {
      const { shop } = running;
      const cases: Array<[string, string, unknown, number, string]> = [
        ['POST', '/api/catalog/products', { sku: 'x', name: 'y', priceCents: -1, stock: 1 }, 400, 'HTTP.INVALID_INPUT'],
        ['POST', '/api/catalog/products', '{"sku":', 400, 'HTTP.MALFORMED_JSON'],
        ['GET', '/api/catalog/products/not-a-uuid', undefined, 400, 'HTTP.INVALID_INPUT'],
        ['POST', '/api/payments/wallets', { customerId: 'ok', balanceCents: 'much' }, 400, 'HTTP.INVALID_INPUT'],
        ['POST', '/api/payments/wallets', '[1,', 400, 'HTTP.MALFORMED_JSON'],
        ['GET', '/api/payments/wallets/nobody-has-this-wallet', undefined, 404, 'PAYMENTS.WALLET_NOT_FOUND'],
        ['POST', '/api/orders', { customerId: 'c', items: [] }, 400, 'HTTP.INVALID_INPUT'],
        ['GET', '/api/orders/00000000-0000-4000-8000-000000000000', undefined, 404, 'ORDERS.NOT_FOUND'],
        ['GET', '/api/shipping/shipments?orderId=nope', undefined, 400, 'HTTP.INVALID_INPUT'],
      ];
      const before = await expectLedgerSettled(running.ledger);
      for (const [method, path, body, status, code] of cases) {
        const res = await shop.request(method, path, body);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({ method, path, status, code });
      }
      const after = await expectLedgerSettled(running.ledger);
      expect(Object.fromEntries(after.published)).toEqual(Object.fromEntries(before.published));
    });

    it('relays every event again with no effect', async () => {
      const { shop } = running;
      const { orderIds, input, state, before } = await settledSaga(shop);
      await expectInvariants(shop, input, { ledger: running.ledger });
      const settled = await expectLedgerSettled(running.ledger);
      expect(await running.unpublishAll()).toBeGreaterThanOrEqual(orderIds.length * 3);
      // Relayed again: the inboxes keep one row per event and handler, and nothing changes.
      const again = await expectLedgerSettled(running.ledger, { timeoutMs: 30_000 });
      expect(Object.fromEntries(again.inbox)).toEqual(Object.fromEntries(settled.inbox));
      expect(await state()).toEqual(before);
      await expectInvariants(shop, input, { ledger: running.ledger });
      // Relayed again, old events count as lag for a moment: the next scenario starts once nothing is shed.
      await expect.poll(async () => (await shop.request('GET', '/health')).body.admission?.shedding, { timeout: 15_000, interval: 100 }).toBe(false);
    });

    more?.(() => running);
  });
}
