import { z } from 'zod';
import { route, type ModuleDb } from '../../../kernel/index.js';
import type { Shipment } from '../shipping.contract.js';

const ListQuery = z.strictObject({
  orderId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export function shippingRoutes(db: ModuleDb) {
  return [
    route({
      method: 'get',
      path: '/shipments',
      query: ListQuery,
      handler: async ({ query }) => {
        const rows = await db.read((k) => {
          const q = k('shipments').select('id', 'order_id', 'status').orderBy('created_at').orderBy('id').limit(query.limit);
          return query.orderId ? q.where('order_id', query.orderId) : q;
        });
        const shipments: Shipment[] = rows.map((r: { id: string; order_id: string; status: 'preparing' }) => ({ id: r.id, orderId: r.order_id, status: r.status }));
        return { status: 200, body: shipments };
      },
    }),
  ];
}
