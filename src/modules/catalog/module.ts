import { defineModule } from '../../kernel/index.js';
import { catalogContract } from './catalog.contract.js';
import { createCatalogService } from './internal/catalog-service.js';
import { catalogRoutes } from './internal/catalog.routes.js';
import { releaseStock, reserveStock } from './internal/stock.handlers.js';

/** Catalog: products, their prices and their stock; reserves and releases units for orders. */
export const catalogModule = defineModule({
  ...catalogContract,
  setup(ctx) {
    const service = createCatalogService(ctx.db);
    return {
      api: service,
      routes: catalogRoutes(service),
      handlers: [reserveStock, releaseStock],
    };
  },
});
