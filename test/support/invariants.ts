import { expect, vi } from 'vitest';
import { expectLedgerSettled, type EventLedger, type LedgerExpectations } from './event-ledger.js';
import type { ShopClient } from './shop-client.js';

export interface InvariantInput {
  products: Array<{ id: string; initialStock: number }>;
  wallets: Array<{ customerId: string; initialBalance: number }>;
  orderIds: string[];
}

export interface InvariantOptions extends LedgerExpectations {
  /** The system's event bookkeeping: every scenario is held to it. */
  ledger: EventLedger;
}

/**
 * PRODUCT.md's invariants, checked through the public API once orders settle:
 * stock, money and shipments all add up. Compensations (releasing stock,
 * creating shipments) may still run after the last order settled, so the
 * checks are retried until the system is idle or `timeoutMs` passes. Then the
 * event flow itself (expectLedgerSettled): every event relayed, handled once
 * by each of its consumers, no dead letters, no failed attempts.
 */
export async function expectInvariants(shop: ShopClient, input: InvariantInput, options: InvariantOptions): Promise<void> {
  const timeout = options.timeoutMs ?? 20_000;
  const orders = await shop.waitSettled(input.orderIds, Math.max(timeout, 30_000));
  expect(orders.filter((o) => o.status === 'pending')).toEqual([]);
  await vi.waitFor(() => checkSettledInvariants(shop, input, orders), { timeout, interval: 100 });
  await expectLedgerSettled(options.ledger, options);
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
