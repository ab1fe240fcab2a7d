import { defineModule } from '../../kernel/index.js';
import { paymentsContract } from './payments.contract.js';
import { capturePayment } from './internal/capture-payment.handler.js';
import { createWalletService } from './internal/wallet-service.js';
import { paymentsRoutes } from './internal/payments.routes.js';

/** Payments: customer wallets, debited when an order's stock is reserved. */
export const paymentsModule = defineModule({
  ...paymentsContract,
  setup(ctx) {
    return { routes: paymentsRoutes(createWalletService(ctx.db)), handlers: [capturePayment] };
  },
});
