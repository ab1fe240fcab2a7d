// Written by `npm run extract` and `npm run absorb` (the modules of src/modules, those extracted to extracted/ as contracts).
// A new module is added here by hand in the same form; extract and absorb keep it.
import { catalogModule } from './modules/catalog/module.js';
import { ordersModule } from './modules/orders/module.js';
import { paymentsModule } from './modules/payments/module.js';
import { shippingModule } from './modules/shipping/module.js';

/** The modules whose code is in this repository (src/modules/<module>/module.ts). */
export const SHOP_MODULES = [catalogModule, ordersModule, paymentsModule, shippingModule] as const;

/** The contracts of the modules extracted to a service of their own (extracted/<module>/): always remote here. */
export const SHOP_EXTRACTED = [] as const;
