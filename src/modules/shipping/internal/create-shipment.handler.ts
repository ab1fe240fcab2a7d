import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { consumes, on } from '../../../kernel/index.js';

const OrderConfirmed = consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid() }));

/** One shipment per confirmed order; the unique order_id makes a second one impossible. */
export const createShipment = on(OrderConfirmed, 'create-shipment', async ({ orderId }, { trx }) => {
  await trx('shipments').insert({ id: randomUUID(), order_id: orderId, status: 'preparing' }).onConflict('order_id').ignore();
});
