import { defineModule } from '../../kernel/index.js';
import { shippingContract } from './shipping.contract.js';
import { createShipment } from './internal/create-shipment.handler.js';
import { shippingRoutes } from './internal/shipping.routes.js';

/** Shipping: one shipment for every confirmed order. */
export const shippingModule = defineModule({
  ...shippingContract,
  setup(ctx) {
    return { routes: shippingRoutes(ctx.db), handlers: [createShipment] };
  },
});
