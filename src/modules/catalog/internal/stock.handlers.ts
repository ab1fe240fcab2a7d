import { onBatch, type Knex } from '../../../kernel/index.js';
import { OrderCancelledForCatalog, OrderPlacedForCatalog, StockReservationFailed, StockReserved } from '../catalog.contract.js';

/**
 * Locks the products in one statement, in id order: every transaction that
 * touches stock takes its locks this way, all at its start, so concurrent
 * batches (other lanes, other processes) wait for each other and never
 * deadlock. Returns the available units of each product found.
 */
async function lockStock(trx: Knex, productIds: Iterable<string>): Promise<Map<string, number>> {
  const ids = [...new Set(productIds)].sort();
  if (ids.length === 0) return new Map();
  const rows: Array<{ id: string; stock: number }> = await trx('products').select('id', 'stock').whereIn('id', ids).orderBy('id').forUpdate();
  return new Map(rows.map((r) => [r.id, Number(r.stock)]));
}

/** Writes the new stock of the products in `stock` (computed under the locks of lockStock). */
async function writeStock(trx: Knex, stock: ReadonlyMap<string, number>): Promise<void> {
  if (stock.size === 0) return;
  await trx.raw('update products set stock = v.stock from unnest(?::uuid[], ?::int[]) as v(id, stock) where products.id = v.id', [[...stock.keys()], [...stock.values()]]);
}

/**
 * Holds every item of a new order, or none of them. A batch of orders is
 * reserved in arrival order against stock locked once for the batch; the
 * changes go back in one update and one insert.
 */
export const reserveStock = onBatch(OrderPlacedForCatalog, 'reserve-stock', async (orders, { trx }) => {
  const stock = await lockStock(trx, orders.flatMap((o) => o.payload.items.map((i) => i.productId)));
  const changed = new Map<string, number>();
  const reservations: Array<{ order_id: string; product_id: string; quantity: number }> = [];
  for (const { payload: order, publish } of orders) {
    // A product listed twice in one order is one reservation of the sum.
    const wanted = new Map<string, number>();
    for (const item of order.items) wanted.set(item.productId, (wanted.get(item.productId) ?? 0) + item.quantity);
    const short = [...wanted].filter(([id, quantity]) => (stock.get(id) ?? -1) < quantity).map(([id]) => id);
    if (short.length > 0) {
      await publish(StockReservationFailed, { orderId: order.orderId, reason: 'out_of_stock', productIds: short.sort() });
      continue;
    }
    for (const [id, quantity] of wanted) {
      stock.set(id, stock.get(id)! - quantity);
      changed.set(id, stock.get(id)!);
      reservations.push({ order_id: order.orderId, product_id: id, quantity });
    }
    const items = [...wanted].sort(([a], [b]) => a.localeCompare(b)).map(([productId, quantity]) => ({ productId, quantity }));
    await publish(StockReserved, { orderId: order.orderId, customerId: order.customerId, totalCents: order.totalCents, items });
  }
  await writeStock(trx, changed);
  if (reservations.length > 0) await trx('reservations').insert(reservations);
});

/** Gives back the units held for cancelled orders (none if nothing was held). */
export const releaseStock = onBatch(OrderCancelledForCatalog, 'release-stock', async (orders, { trx }) => {
  const released: Array<{ product_id: string; quantity: number }> = await trx('reservations')
    .whereIn('order_id', orders.map((o) => o.payload.orderId))
    .andWhere({ status: 'reserved' })
    .update({ status: 'released' })
    .returning(['product_id', 'quantity']);
  const stock = await lockStock(trx, released.map((r) => r.product_id));
  for (const row of released) stock.set(row.product_id, stock.get(row.product_id)! + Number(row.quantity));
  await writeStock(trx, stock);
});
