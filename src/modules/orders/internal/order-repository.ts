import type { Knex } from '../../../kernel/index.js';
import type { Order } from '../orders.contract.js';

interface OrderRow {
  id: string;
  customer_id: string;
  status: Order['status'];
  cancel_reason: Order['cancelReason'] | null;
  total_cents: string | number;
}

interface ItemRow {
  product_id: string;
  quantity: number;
  unit_price_cents: number;
}

export async function insertOrder(trx: Knex, order: Order): Promise<void> {
  await trx('orders').insert({ id: order.id, customer_id: order.customerId, status: order.status, total_cents: order.totalCents });
  await trx('order_items').insert(
    order.items.map((i) => ({ order_id: order.id, product_id: i.productId, quantity: i.quantity, unit_price_cents: i.unitPriceCents })),
  );
}

export async function findOrder(k: Knex, id: string): Promise<Order | undefined> {
  const row = await k<OrderRow>('orders').where({ id }).first();
  if (!row) return undefined;
  const items: ItemRow[] = await k('order_items').where({ order_id: id }).orderBy('product_id');
  return {
    id: row.id,
    customerId: row.customer_id,
    status: row.status,
    ...(row.cancel_reason ? { cancelReason: row.cancel_reason } : {}),
    totalCents: Number(row.total_cents),
    items: items.map((i) => ({ productId: i.product_id, quantity: Number(i.quantity), unitPriceCents: Number(i.unit_price_cents) })),
  };
}

/** A customer's orders, newest first. */
export async function findOrdersOfCustomer(k: Knex, customerId: string, limit: number): Promise<Order[]> {
  const ids: string[] = await k('orders').where({ customer_id: customerId }).orderBy('created_at', 'desc').orderBy('id').limit(limit).pluck('id');
  const orders = await Promise.all(ids.map((id) => findOrder(k, id)));
  return orders.filter((o): o is Order => o !== undefined);
}

/** Moves the orders that are still pending on; returns the ids it moved (a settled order stays as it is). */
export async function settle(trx: Knex, ids: readonly string[], status: 'confirmed' | 'cancelled', cancelReason?: string): Promise<string[]> {
  const rows: Array<{ id: string }> = await trx('orders')
    .whereIn('id', ids)
    .andWhere({ status: 'pending' })
    // clock_timestamp(), not now(): the time of the change, not the start of a batch's transaction.
    .update({ status, cancel_reason: cancelReason ?? null, updated_at: trx.raw('clock_timestamp()') })
    .returning('id');
  return rows.map((r) => r.id);
}
