import { z } from 'zod';
import { consumes, on } from '../../../kernel/index.js';
import { PaymentCaptured, PaymentDeclined } from '../payments.contract.js';

const StockReserved = consumes(
  'catalog.StockReserved',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), totalCents: z.number().int().min(0) }),
);

/** Debits the order's total once stock is held; the balance check and the debit are one statement. */
export const capturePayment = on(StockReserved, 'capture-payment', async ({ orderId, customerId, totalCents }, { trx, publish }) => {
  const debited = await trx('wallets')
    .where('customer_id', customerId)
    .andWhere('balance_cents', '>=', totalCents)
    .decrement('balance_cents', totalCents);
  if (debited === 1) {
    await trx('payments').insert({ order_id: orderId, customer_id: customerId, amount_cents: totalCents, status: 'captured' });
    await publish(PaymentCaptured, { orderId, customerId, amountCents: totalCents });
    return;
  }
  const wallet = await trx('wallets').where('customer_id', customerId).first('customer_id');
  const reason = wallet ? 'insufficient_funds' : 'no_wallet';
  await trx('payments').insert({ order_id: orderId, customer_id: customerId, amount_cents: totalCents, status: 'declined', decline_reason: reason });
  await publish(PaymentDeclined, { orderId, customerId, reason });
});
