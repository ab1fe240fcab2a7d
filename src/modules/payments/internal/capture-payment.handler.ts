import { onBatch } from '../../../kernel/index.js';
import { PaymentCaptured, PaymentDeclined, StockReservedForPayments } from '../payments.contract.js';

/**
 * Debits each order's total once its stock is held. A batch locks its
 * customers' wallets in one statement (in customer order, so concurrent
 * batches wait instead of deadlocking), settles the payments in arrival
 * order against those balances, and writes back one update and one insert.
 */
export const capturePayment = onBatch(StockReservedForPayments, 'capture-payment', async (reservations, { trx }) => {
  const customers = [...new Set(reservations.map((r) => r.payload.customerId))].sort();
  const rows: Array<{ customer_id: string; balance_cents: string | number }> = await trx('wallets')
    .select('customer_id', 'balance_cents')
    .whereIn('customer_id', customers)
    .orderBy('customer_id')
    .forUpdate();
  const balances = new Map(rows.map((r) => [r.customer_id, Number(r.balance_cents)]));
  const debited = new Map<string, number>();
  const payments: Array<{ order_id: string; customer_id: string; amount_cents: number; status: string; decline_reason: string | null }> = [];
  for (const { payload, publish } of reservations) {
    const { orderId, customerId, totalCents } = payload;
    const balance = balances.get(customerId);
    if (balance !== undefined && balance >= totalCents) {
      balances.set(customerId, balance - totalCents);
      debited.set(customerId, balance - totalCents);
      payments.push({ order_id: orderId, customer_id: customerId, amount_cents: totalCents, status: 'captured', decline_reason: null });
      await publish(PaymentCaptured, { orderId, customerId, amountCents: totalCents });
    } else {
      const reason = balance === undefined ? 'no_wallet' : 'insufficient_funds';
      payments.push({ order_id: orderId, customer_id: customerId, amount_cents: totalCents, status: 'declined', decline_reason: reason });
      await publish(PaymentDeclined, { orderId, customerId, reason });
    }
  }
  if (debited.size > 0) {
    await trx.raw('update wallets set balance_cents = v.balance from unnest(?::text[], ?::bigint[]) as v(customer_id, balance) where wallets.customer_id = v.customer_id', [
      [...debited.keys()],
      [...debited.values()],
    ]);
  }
  await trx('payments').insert(payments);
});
