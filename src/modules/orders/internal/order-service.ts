import { randomUUID } from 'node:crypto';
import { AppError, type CallContext, type EventPublisher, type ModuleDb } from '../../../kernel/index.js';
import type { CatalogApi } from '../../catalog/index.js';
import { OrderPlaced, type Order } from '../orders.contract.js';
import { claimKey, findKey, requestHash, type StoredKey } from './idempotency-repository.js';
import { findOrder, findOrdersOfCustomer, insertOrder } from './order-repository.js';

export interface PlaceOrderInput {
  customerId: string;
  items: Array<{ productId: string; quantity: number }>;
}

/** The answer to `POST /api/orders`: the first one again for a retry with the same `Idempotency-Key`. */
export interface Placed {
  status: number;
  body: unknown;
}

export interface OrderService {
  /**
   * `context` is the request's: the OrderPlaced event carries its correlation id.
   * With `idempotencyKey`, the same customer's same key and input get the
   * first answer again, and another input is a 422 (ADR 0017).
   */
  placeOrder(input: PlaceOrderInput, context?: CallContext, idempotencyKey?: string): Promise<Placed>;
  getOrder(id: string): Promise<Order | undefined>;
  listOrders(customerId: string, limit: number): Promise<Order[]>;
}

/** Lines of the same product are added up, so an order holds each product once. */
function mergeLines(items: PlaceOrderInput['items']): PlaceOrderInput['items'] {
  const merged = new Map<string, number>();
  for (const item of items) merged.set(item.productId, (merged.get(item.productId) ?? 0) + item.quantity);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}

/** Thrown inside the transaction to roll the order back when a concurrent request took the key first. */
class KeyTaken extends Error {}

/** The stored answer for a retry, or the 422 for a key reused with another request. */
function replay(stored: StoredKey, hash: string, key: string): Placed {
  if (stored.requestHash !== hash) {
    throw new AppError('UNPROCESSABLE', 'ORDERS.IDEMPOTENCY_KEY_REUSED', `Idempotency-Key "${key}" was already used for another order request of this customer; use a new key for a new order`);
  }
  return { status: stored.status, body: stored.response };
}

export function createOrderService(db: ModuleDb, events: EventPublisher, catalog: CatalogApi): OrderService {
  const ACCEPTED = 202;
  return {
    async placeOrder(input, context, idempotencyKey) {
      const hash = idempotencyKey === undefined ? '' : requestHash(input);
      if (idempotencyKey !== undefined) {
        const stored = await db.read((k) => findKey(k, input.customerId, idempotencyKey));
        if (stored) return replay(stored, hash, idempotencyKey);
      }
      // Priced before the transaction: a module never calls another while holding one.
      const priced = await catalog.priceItems({ items: mergeLines(input.items) }, context);
      const order: Order = { id: randomUUID(), customerId: input.customerId, status: 'pending', totalCents: priced.totalCents, items: priced.items };
      try {
        await db.transaction(async (trx) => {
          // The key first: a concurrent request with it waits here, then finds it taken, before either stores an order.
          if (idempotencyKey !== undefined && !(await claimKey(trx, order.customerId, idempotencyKey, hash, order.id, ACCEPTED, order))) throw new KeyTaken();
          await insertOrder(trx, order);
          await events.publish(trx, OrderPlaced, {
            orderId: order.id,
            customerId: order.customerId,
            totalCents: order.totalCents,
            items: order.items.map(({ productId, quantity }) => ({ productId, quantity })),
          });
        }, context);
      } catch (error) {
        if (!(error instanceof KeyTaken)) throw error;
        const stored = await db.read((k) => findKey(k, input.customerId, idempotencyKey!));
        if (!stored) throw new AppError('CONFLICT', 'ORDERS.IDEMPOTENCY_KEY_IN_USE', `Idempotency-Key "${idempotencyKey}" is in use by a request still running; retry`);
        return replay(stored, hash, idempotencyKey!);
      }
      return { status: ACCEPTED, body: order };
    },
    getOrder: (id) => db.read((k) => findOrder(k, id)),
    listOrders: (customerId, limit) => db.read((k) => findOrdersOfCustomer(k, customerId, limit)),
  };
}
