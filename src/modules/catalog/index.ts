import { defineModule } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };
import { catalogApi, StockReservationFailed, StockReserved } from './catalog.contract.js';
import { createCatalogService } from './internal/catalog-service.js';
import { catalogRoutes } from './internal/catalog.routes.js';
import { releaseStock, reserveStock } from './internal/stock.handlers.js';

export { catalogApi, Product, OrderLine, StockReserved, StockReservationFailed, type CatalogApi } from './catalog.contract.js';

/** Catalog: products, their prices and their stock; reserves and releases units for orders. */
export const catalogModule = defineModule({
  name: 'catalog',
  api: catalogApi,
  events: [StockReserved, StockReservationFailed],
  dependsOn: manifest.dependsOn,
  setup(ctx) {
    const service = createCatalogService(ctx.db);
    return {
      api: service,
      routes: catalogRoutes(service),
      handlers: [reserveStock, releaseStock],
    };
  },
});
