import { defineModule } from '../../kernel/index.js';
import { catalogApi } from '../catalog/index.js';
import { ordersContract } from './orders.contract.js';
import { createOrderService } from './internal/order-service.js';
import { ordersRoutes } from './internal/orders.routes.js';
import { settleOrderHandlers } from './internal/settle-order.handlers.js';

/** Orders: takes orders, prices them through catalog, and follows the saga to confirmed or cancelled. */
export const ordersModule = defineModule({
  ...ordersContract,
  setup(ctx) {
    const service = createOrderService(ctx.db, ctx.events, ctx.api(catalogApi));
    // Idempotency keys go with the published events: a retry comes within minutes, not after EVENT_RETENTION_HOURS.
    return { routes: ordersRoutes(service), handlers: settleOrderHandlers, retention: [{ table: 'idempotency_keys', column: 'created_at' }] };
  },
});
