import { randomUUID } from 'node:crypto';
import { onBatch } from '../../../kernel/index.js';
import { OrderConfirmedForShipping } from '../shipping.contract.js';

/** One shipment per confirmed order, a batch in one insert; the unique order_id makes a second one impossible. */
export const createShipment = onBatch(OrderConfirmedForShipping, 'create-shipment', async (orders, { trx }) => {
  const rows = orders.map(({ payload }) => ({ id: randomUUID(), order_id: payload.orderId, status: 'preparing' }));
  await trx('shipments').insert(rows).onConflict('order_id').ignore();
});
