import { z } from 'zod';
import { consumes, on, type HandlerContext } from '../../../kernel/index.js';
import { OrderCancelled, OrderConfirmed } from '../orders.contract.js';
import { findOrder, settle } from './order-repository.js';

const StockReservationFailed = consumes('catalog.StockReservationFailed', 1, z.object({ orderId: z.uuid() }));
const PaymentCaptured = consumes('payments.PaymentCaptured', 1, z.object({ orderId: z.uuid() }));
const PaymentDeclined = consumes('payments.PaymentDeclined', 1, z.object({ orderId: z.uuid() }));

async function cancel(orderId: string, reason: 'out_of_stock' | 'payment_declined', { trx, publish }: HandlerContext): Promise<void> {
  if (await settle(trx, orderId, 'cancelled', reason)) await publish(OrderCancelled, { orderId, reason });
}

export const settleOrderHandlers = [
  on(PaymentCaptured, 'confirm-order', async ({ orderId }, { trx, publish }) => {
    if (!(await settle(trx, orderId, 'confirmed'))) return;
    const order = (await findOrder(trx, orderId))!;
    await publish(OrderConfirmed, {
      orderId,
      customerId: order.customerId,
      totalCents: order.totalCents,
      items: order.items.map(({ productId, quantity }) => ({ productId, quantity })),
    });
  }),
  on(StockReservationFailed, 'cancel-out-of-stock', ({ orderId }, ctx) => cancel(orderId, 'out_of_stock', ctx)),
  on(PaymentDeclined, 'cancel-payment-declined', ({ orderId }, ctx) => cancel(orderId, 'payment_declined', ctx)),
];
