import { randomUUID } from 'node:crypto';
import type { CallContext, EventPublisher, ModuleDb } from '../../../kernel/index.js';
import type { CatalogApi } from '../../catalog/index.js';
import { OrderPlaced, type Order } from '../orders.contract.js';
import { findOrder, findOrdersOfCustomer, insertOrder } from './order-repository.js';

export interface PlaceOrderInput {
  customerId: string;
  items: Array<{ productId: string; quantity: number }>;
}

export interface OrderService {
  /** `context` is the request's: the OrderPlaced event carries its correlation id. */
  placeOrder(input: PlaceOrderInput, context?: CallContext): Promise<Order>;
  getOrder(id: string): Promise<Order | undefined>;
  listOrders(customerId: string, limit: number): Promise<Order[]>;
}

/** Lines of the same product are added up, so an order holds each product once. */
function mergeLines(items: PlaceOrderInput['items']): PlaceOrderInput['items'] {
  const merged = new Map<string, number>();
  for (const item of items) merged.set(item.productId, (merged.get(item.productId) ?? 0) + item.quantity);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}

export function createOrderService(db: ModuleDb, events: EventPublisher, catalog: CatalogApi): OrderService {
  return {
    async placeOrder(input, context) {
      // Priced before the transaction: a module never calls another while holding one.
      const priced = await catalog.priceItems({ items: mergeLines(input.items) }, context);
      const order: Order = { id: randomUUID(), customerId: input.customerId, status: 'pending', totalCents: priced.totalCents, items: priced.items };
      await db.transaction(async (trx) => {
        await insertOrder(trx, order);
        await events.publish(trx, OrderPlaced, {
          orderId: order.id,
          customerId: order.customerId,
          totalCents: order.totalCents,
          items: order.items.map(({ productId, quantity }) => ({ productId, quantity })),
        });
      }, context);
      return order;
    },
    getOrder: (id) => db.read((k) => findOrder(k, id)),
    listOrders: (customerId, limit) => db.read((k) => findOrdersOfCustomer(k, customerId, limit)),
  };
}
