import type { Knex } from 'knex';

/**
 * The `Idempotency-Key`s of `POST /api/orders` (docs/adr/0017): one row per
 * customer and key, written in the transaction that stores the order, with
 * the hash of the request and the answer it got, so a retry gets that answer
 * again. Purged with the published events (EVENT_RETENTION_HOURS).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('customer_id').notNullable();
    t.text('key').notNullable();
    t.text('request_hash').notNullable();
    // Checked at commit: the key is claimed before the order is inserted, so a concurrent request with it waits before doing anything.
    t.uuid('order_id').notNullable().references('id').inTable('orders').deferrable('deferred');
    t.integer('status').notNullable();
    // json, not jsonb: the answer comes back exactly as it was sent, keys in their order.
    t.json('response').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['customer_id', 'key']);
    t.index(['created_at']);
  });
}
