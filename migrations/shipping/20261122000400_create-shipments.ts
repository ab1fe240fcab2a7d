import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('shipments', (t) => {
    t.uuid('id').primary();
    // One shipment per order, whatever the number of deliveries of OrderConfirmed.
    t.uuid('order_id').notNullable().unique();
    t.text('status').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}
