import { defineModule } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };
import { createShipment } from './internal/create-shipment.handler.js';
import { shippingRoutes } from './internal/shipping.routes.js';

export { Shipment } from './shipping.contract.js';

/** Shipping: one shipment for every confirmed order. */
export const shippingModule = defineModule({
  name: 'shipping',
  events: [],
  dependsOn: manifest.dependsOn,
  setup(ctx) {
    return { routes: shippingRoutes(ctx.db), handlers: [createShipment] };
  },
});
