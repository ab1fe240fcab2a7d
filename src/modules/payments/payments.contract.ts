import { z } from 'zod';
import { defineEvent } from '../../kernel/index.js';

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
