import { defineModule } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };
import { PaymentCaptured, PaymentDeclined } from './payments.contract.js';
import { capturePayment } from './internal/capture-payment.handler.js';
import { createWalletService } from './internal/wallet-service.js';
import { paymentsRoutes } from './internal/payments.routes.js';

export { Wallet, PaymentCaptured, PaymentDeclined } from './payments.contract.js';

/** Payments: customer wallets, debited when an order's stock is reserved. */
export const paymentsModule = defineModule({
  name: 'payments',
  events: [PaymentCaptured, PaymentDeclined],
  dependsOn: manifest.dependsOn,
  setup(ctx) {
    return { routes: paymentsRoutes(createWalletService(ctx.db)), handlers: [capturePayment] };
  },
});
