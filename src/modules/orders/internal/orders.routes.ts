import { z } from 'zod';
import { AppError, route } from '../../../kernel/index.js';
import { OrderLine } from '../../catalog/index.js';
import type { OrderService } from './order-service.js';

const CustomerId = z.string().trim().min(1).max(64).regex(/^[\w.:-]+$/, 'letters, digits and _ . : - only');
const NewOrder = z.strictObject({ customerId: CustomerId, items: z.array(OrderLine).min(1).max(100) });
const ById = z.strictObject({ id: z.uuid() });
/**
 * `Idempotency-Key`: 1-255 letters, digits and `_ . : + / = -` (a UUID, a
 * ULID, base64url), bare or as a quoted string (the IETF draft's form).
 */
export const IdempotencyKey = z
  .string()
  .transform((value) => (value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value))
  .pipe(z.string().min(1, 'must not be empty').max(255).regex(/^[A-Za-z0-9_.:+/=-]+$/, 'letters, digits and _ . : + / = - only'));
const OrderHeaders = z.object({ 'idempotency-key': IdempotencyKey.optional() });
const ListQuery = z.strictObject({ customerId: CustomerId, limit: z.coerce.number().int().min(1).max(500).default(100) });

export function ordersRoutes(service: OrderService) {
  return [
    route({
      method: 'post',
      path: '/',
      body: NewOrder,
      headers: OrderHeaders,
      // Placing an order starts the saga: refused while the saga lags (admission control).
      startsWork: true,
      handler: ({ body, headers, context }) => service.placeOrder(body, context, headers['idempotency-key']),
    }),
    route({
      method: 'get',
      path: '/',
      query: ListQuery,
      handler: async ({ query }) => ({ status: 200, body: await service.listOrders(query.customerId, query.limit) }),
    }),
    route({
      method: 'get',
      path: '/:id',
      params: ById,
      handler: async ({ params }) => {
        const order = await service.getOrder(params.id);
        if (!order) throw new AppError('NOT_FOUND', 'ORDERS.NOT_FOUND', `order ${params.id} does not exist`);
        return { status: 200, body: order };
      },
    }),
  ];
}
