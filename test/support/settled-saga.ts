import { expect } from 'vitest';
import type { InvariantInput } from './invariants.js';
import type { ShopClient } from './shop-client.js';

/**
 * Runs a small saga to its end (one confirmed order, one declined, one out of
 * stock) and returns what a redelivery must leave unchanged: `state()` reads
 * it again, `before` is its value now, `input` feeds `expectInvariants`.
 */
export async function settledSaga(shop: ShopClient) {
  const product = await shop.createProduct(3, 400);
  const rich = await shop.createWallet(10_000);
  const poor = await shop.createWallet(100);
  const placed = await Promise.all([
    shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 2 }]),
    shop.placeOrderAccepted(poor.customerId, [{ productId: product.id, quantity: 1 }]),
    shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 5 }]),
  ]);
  const orderIds = placed.map((p) => p.body.id as string);
  const orders = await shop.waitSettled(orderIds);
  await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 10_000 }).toBe(1);
  await expect.poll(async () => (await shop.shipmentsOf(orders.find((o) => o.status === 'confirmed')!.id)).length, { timeout: 10_000 }).toBe(1);
  const state = async () => ({
    orders: await shop.waitSettled(orderIds),
    stock: (await shop.getProduct(product.id)).stock,
    rich: (await shop.getWallet(rich.customerId)).balanceCents,
    poor: (await shop.getWallet(poor.customerId)).balanceCents,
    shipments: await Promise.all(orderIds.map((id) => shop.shipmentsOf(id))),
  });
  const input: InvariantInput = {
    products: [{ id: product.id, initialStock: 3 }],
    wallets: [rich, poor].map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
    orderIds,
  };
  return { orderIds, input, state, before: await state() };
}
