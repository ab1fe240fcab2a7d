import { z } from 'zod';
import { AppError, route } from '../../../kernel/index.js';
import type { CatalogService } from './catalog-service.js';

const NewProduct = z.strictObject({
  sku: z.string().trim().min(1).max(64),
  name: z.string().trim().min(1).max(200),
  priceCents: z.number().int().min(0).max(100_000_000),
  stock: z.number().int().min(0).max(1_000_000),
});

const ById = z.strictObject({ id: z.uuid() });
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) });

export function catalogRoutes(service: CatalogService) {
  return [
    route({
      method: 'post',
      path: '/products',
      body: NewProduct,
      handler: async ({ body }) => ({ status: 201, body: await service.createProduct(body) }),
    }),
    route({
      method: 'get',
      path: '/products/:id',
      params: ById,
      handler: async ({ params }) => {
        const product = await service.getProduct(params);
        if (!product) throw new AppError('NOT_FOUND', 'CATALOG.PRODUCT_NOT_FOUND', `product ${params.id} does not exist`);
        return { status: 200, body: product };
      },
    }),
    route({
      method: 'get',
      path: '/products',
      query: ListQuery,
      handler: async ({ query }) => ({ status: 200, body: await service.listProducts(query.limit) }),
    }),
  ];
}
