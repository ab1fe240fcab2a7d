import { catalogModule } from './modules/catalog/index.js';
import { ordersModule } from './modules/orders/index.js';
import { paymentsModule } from './modules/payments/index.js';
import { shippingModule } from './modules/shipping/index.js';

/** The composition root's module list: the only place that names every module. */
export const SHOP_MODULES = [catalogModule, ordersModule, paymentsModule, shippingModule] as const;

/** Where each module runs by default; `extract` and `absorb` edit it, the environment overrides it. */
export const SHOP_TOPOLOGY_FILE = 'topology.json';
