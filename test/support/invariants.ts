import { expect, vi } from 'vitest';
import type { ShopClient } from './shop-client.js';

export interface InvariantInput {
  products: Array<{ id: string; initialStock: number }>;
  wallets: Array<{ customerId: string; initialBalance: number }>;
  orderIds: string[];
}

/**
 * PRODUCT.md's invariants, checked through the public API once orders settle:
 * stock, money and shipments all add up. Compensations (releasing stock,
 * creating shipments) may still run after the last order settled, so the
 * checks are retried until the system is idle or `timeoutMs` passes.
 */
export async function expectInvariants(shop: ShopClient, input: InvariantInput, timeoutMs = 20_000): Promise<void> {
  const orders = await shop.waitSettled(input.orderIds);
  expect(orders.filter((o) => o.status === 'pending')).toEqual([]);
  await vi.waitFor(() => checkSettledInvariants(shop, input, orders), { timeout: timeoutMs, interval: 100 });
}

async function checkSettledInvariants(shop: ShopClient, input: InvariantInput, orders: Awaited<ReturnType<ShopClient['waitSettled']>>): Promise<void> {
  const confirmed = orders.filter((o) => o.status === 'confirmed');

  for (const product of input.products) {
    const { stock } = await shop.getProduct(product.id);
    const units = confirmed.flatMap((o) => o.items).filter((i) => i.productId === product.id).reduce((n, i) => n + i.quantity, 0);
    expect(stock, `stock of ${product.id}`).toBeGreaterThanOrEqual(0);
    expect(stock + units, `initial stock of ${product.id} = available + confirmed units`).toBe(product.initialStock);
  }

  for (const wallet of input.wallets) {
    const { balanceCents } = await shop.getWallet(wallet.customerId);
    const spent = confirmed.filter((o) => o.customerId === wallet.customerId).reduce((n, o) => n + o.totalCents, 0);
    expect(balanceCents, `wallet of ${wallet.customerId}`).toBeGreaterThanOrEqual(0);
    expect(wallet.initialBalance - balanceCents, `money debited from ${wallet.customerId}`).toBe(spent);
  }

  for (const order of orders) {
    const shipments = await shop.shipmentsOf(order.id);
    expect(shipments.length, `shipments of ${order.status} order ${order.id}`).toBe(order.status === 'confirmed' ? 1 : 0);
  }
}
