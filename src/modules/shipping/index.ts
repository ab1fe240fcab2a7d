import { defineModule } from '../../kernel/index.js';
import { createShipment } from './internal/create-shipment.handler.js';
import { shippingRoutes } from './internal/shipping.routes.js';

export { Shipment } from './shipping.contract.js';

/** Shipping: one shipment for every confirmed order. */
export const shippingModule = defineModule({
  name: 'shipping',
  events: [],
  dependsOn: [],
  setup(ctx) {
    return { routes: shippingRoutes(ctx.db), handlers: [createShipment] };
  },
});
