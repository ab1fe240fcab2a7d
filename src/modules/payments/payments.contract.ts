import { z } from 'zod';
import { consumes, defineContract, defineEvent } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };

export const Wallet = z.object({ customerId: z.string(), balanceCents: z.number().int() });
export type Wallet = z.infer<typeof Wallet>;

/** The order's total was debited from the customer's wallet. */
export const PaymentCaptured = defineEvent(
  'payments.PaymentCaptured',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), amountCents: z.number().int() }),
);

/** No wallet, or too little money in it: nothing was debited. */
export const PaymentDeclined = defineEvent(
  'payments.PaymentDeclined',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), reason: z.enum(['no_wallet', 'insufficient_funds']) }),
);

// Payments' reading of the event that asks it to take the money.
export const StockReservedForPayments = consumes(
  'catalog.StockReserved',
  1,
  z.object({ orderId: z.uuid(), customerId: z.string(), totalCents: z.number().int().min(0) }),
);

/** What every process knows of payments, wherever it runs (ADR 0010). */
export const paymentsContract = defineContract({
  name: 'payments',
  events: [PaymentCaptured, PaymentDeclined],
  consumes: { 'capture-payment': StockReservedForPayments },
  dependsOn: manifest.dependsOn,
});
