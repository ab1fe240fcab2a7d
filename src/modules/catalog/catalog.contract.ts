import { z } from 'zod';
import { consumes, defineApi, defineContract, defineEvent, type ApiOf } from '../../kernel/index.js';
import manifest from './module.json' with { type: 'json' };

/** A product as every other module and client sees it; `stock` is units still available. */
export const Product = z.object({
  id: z.uuid(),
  sku: z.string(),
  name: z.string(),
  priceCents: z.number().int(),
  stock: z.number().int(),
});
export type Product = z.infer<typeof Product>;

export const OrderLine = z.strictObject({
  productId: z.uuid(),
  quantity: z.number().int().min(1).max(1_000),
});

/** Catalog's synchronous API: orders prices its items through it. */
export const catalogApi = defineApi('catalog', {
  getProduct: { input: z.strictObject({ id: z.uuid() }), output: Product.nullable(), idempotent: true },
  priceItems: {
    idempotent: true,
    input: z.strictObject({ items: z.array(OrderLine).min(1).max(100) }),
    output: z.object({
      items: z.array(z.object({ productId: z.uuid(), quantity: z.number().int(), unitPriceCents: z.number().int() })),
      totalCents: z.number().int(),
    }),
  },
});
export type CatalogApi = ApiOf<typeof catalogApi>;

const ReservedLine = z.object({ productId: z.uuid(), quantity: z.number().int() });

/** All items of an order are held for it. */
export const StockReserved = defineEvent(
  'catalog.StockReserved',
  1,
  // Prices and quantities are never negative, so neither is the total: payments relies on it.
  z.object({ orderId: z.uuid(), customerId: z.string(), totalCents: z.number().int().min(0), items: z.array(ReservedLine) }),
);

/** Some item of an order had too few units; nothing is held. */
export const StockReservationFailed = defineEvent(
  'catalog.StockReservationFailed',
  1,
  z.object({ orderId: z.uuid(), reason: z.literal('out_of_stock'), productIds: z.array(z.uuid()) }),
);

// Catalog's reading of the orders events it reacts to (only the fields it needs).
export const OrderPlacedForCatalog = consumes(
  'orders.OrderPlaced',
  1,
  z.object({
    orderId: z.uuid(),
    customerId: z.string(),
    totalCents: z.number().int(),
    items: z.array(z.object({ productId: z.uuid(), quantity: z.number().int().positive() })),
  }),
);
export const OrderCancelledForCatalog = consumes('orders.OrderCancelled', 1, z.object({ orderId: z.uuid() }));

/** What every process knows of catalog, wherever it runs (ADR 0010). */
export const catalogContract = defineContract({
  name: 'catalog',
  api: catalogApi,
  events: [StockReserved, StockReservationFailed],
  consumes: { 'reserve-stock': OrderPlacedForCatalog, 'release-stock': OrderCancelledForCatalog },
  dependsOn: manifest.dependsOn,
});
