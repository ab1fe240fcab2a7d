import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { consumes, onBatch } from '../../../kernel/index.js';

const OrderConfirmed = consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid() }));

/** One shipment per confirmed order, a batch in one insert; the unique order_id makes a second one impossible. */
export const createShipment = onBatch(OrderConfirmed, 'create-shipment', async (orders, { trx }) => {
  const rows = orders.map(({ payload }) => ({ id: randomUUID(), order_id: payload.orderId, status: 'preparing' }));
  await trx('shipments').insert(rows).onConflict('order_id').ignore();
});
