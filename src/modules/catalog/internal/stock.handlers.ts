import { z } from 'zod';
import { consumes, on } from '../../../kernel/index.js';
import { StockReservationFailed, StockReserved } from '../catalog.contract.js';

// Catalog's reading of the orders events it reacts to (only the fields it needs).
const OrderPlaced = consumes(
  'orders.OrderPlaced',
  1,
  z.object({
    orderId: z.uuid(),
    customerId: z.string(),
    totalCents: z.number().int(),
    items: z.array(z.object({ productId: z.uuid(), quantity: z.number().int().positive() })),
  }),
);
const OrderCancelled = consumes('orders.OrderCancelled', 1, z.object({ orderId: z.uuid() }));

class OutOfStock extends Error {
  constructor(readonly productIds: string[]) {
    super('out of stock');
  }
}

/** Holds every item of a new order, or none of them. */
export const reserveStock = on(OrderPlaced, 'reserve-stock', async (order, { trx, publish }) => {
  // Sorted updates take row locks in one order, so concurrent reservations cannot deadlock.
  const items = [...order.items].sort((a, b) => a.productId.localeCompare(b.productId));
  try {
    await trx.transaction(async (savepoint) => {
      const short: string[] = [];
      for (const item of items) {
        const updated = await savepoint('products').where('id', item.productId).andWhere('stock', '>=', item.quantity).decrement('stock', item.quantity);
        if (updated === 0) short.push(item.productId);
      }
      if (short.length > 0) throw new OutOfStock(short);
      await savepoint('reservations').insert(items.map((i) => ({ order_id: order.orderId, product_id: i.productId, quantity: i.quantity })));
    });
  } catch (error) {
    if (!(error instanceof OutOfStock)) throw error;
    await publish(StockReservationFailed, { orderId: order.orderId, reason: 'out_of_stock', productIds: error.productIds });
    return;
  }
  await publish(StockReserved, { orderId: order.orderId, customerId: order.customerId, totalCents: order.totalCents, items });
});

/** Gives back the units held for a cancelled order (none if nothing was held). */
export const releaseStock = on(OrderCancelled, 'release-stock', async ({ orderId }, { trx }) => {
  const released = await trx('reservations').where({ order_id: orderId, status: 'reserved' }).update({ status: 'released' }).returning(['product_id', 'quantity']);
  for (const row of released as Array<{ product_id: string; quantity: number }>) {
    await trx('products').where('id', row.product_id).increment('stock', row.quantity);
  }
});
