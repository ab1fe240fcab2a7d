import { defineModule } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };
import { catalogApi } from '../catalog/index.js';
import { OrderCancelled, OrderConfirmed, OrderPlaced } from './orders.contract.js';
import { createOrderService } from './internal/order-service.js';
import { ordersRoutes } from './internal/orders.routes.js';
import { settleOrderHandlers } from './internal/settle-order.handlers.js';

export { Order, OrderPlaced, OrderConfirmed, OrderCancelled, OrderStatus, CancelReason } from './orders.contract.js';

/** Orders: takes orders, prices them through catalog, and follows the saga to confirmed or cancelled. */
export const ordersModule = defineModule({
  name: 'orders',
  events: [OrderPlaced, OrderConfirmed, OrderCancelled],
  dependsOn: manifest.dependsOn,
  setup(ctx) {
    const service = createOrderService(ctx.db, ctx.events, ctx.api(catalogApi));
    return { routes: ordersRoutes(service), handlers: settleOrderHandlers };
  },
});
