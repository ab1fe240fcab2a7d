import { z } from 'zod';
import { onBatch, type BatchItem, type Knex } from '../../../kernel/index.js';
import { OrderCancelled, OrderConfirmed, PaymentCapturedForOrders, PaymentDeclinedForOrders, StockReservationFailedForOrders } from '../orders.contract.js';
import { settle } from './order-repository.js';

/** Cancels the batch's orders that are still pending, in one statement, and announces each. */
async function cancel(items: Array<BatchItem<z.ZodObject<{ orderId: z.ZodUUID }>>>, reason: 'out_of_stock' | 'payment_declined', trx: Knex): Promise<void> {
  const cancelled = new Set(await settle(trx, items.map((i) => i.payload.orderId), 'cancelled', reason));
  for (const { payload, publish } of items) if (cancelled.delete(payload.orderId)) await publish(OrderCancelled, { orderId: payload.orderId, reason });
}

export const settleOrderHandlers = [
  // Each batch settles its orders in one update and reads their lines in one select.
  onBatch(PaymentCapturedForOrders, 'confirm-order', async (items, { trx }) => {
    const confirmed = new Set(await settle(trx, items.map((i) => i.payload.orderId), 'confirmed'));
    if (confirmed.size === 0) return;
    const orders = new Map<string, { customerId: string; totalCents: number; items: Array<{ productId: string; quantity: number }> }>();
    const rows: Array<{ id: string; customer_id: string; total_cents: string | number; product_id: string; quantity: number }> = await trx('orders')
      .join('order_items', 'order_items.order_id', 'orders.id')
      .whereIn('orders.id', [...confirmed])
      .orderBy('order_items.product_id')
      .select('orders.id', 'orders.customer_id', 'orders.total_cents', 'order_items.product_id', 'order_items.quantity');
    for (const row of rows) {
      const order = orders.get(row.id) ?? { customerId: row.customer_id, totalCents: Number(row.total_cents), items: [] };
      order.items.push({ productId: row.product_id, quantity: Number(row.quantity) });
      orders.set(row.id, order);
    }
    for (const { payload, publish } of items) {
      const order = confirmed.delete(payload.orderId) ? orders.get(payload.orderId) : undefined;
      if (order) await publish(OrderConfirmed, { orderId: payload.orderId, ...order });
    }
  }),
  onBatch(StockReservationFailedForOrders, 'cancel-out-of-stock', (items, { trx }) => cancel(items, 'out_of_stock', trx)),
  onBatch(PaymentDeclinedForOrders, 'cancel-payment-declined', (items, { trx }) => cancel(items, 'payment_declined', trx)),
];
