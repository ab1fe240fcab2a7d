import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('orders', (t) => {
    t.uuid('id').primary();
    t.text('customer_id').notNullable();
    t.text('status').notNullable();
    t.text('cancel_reason');
    t.bigInteger('total_cents').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('order_items', (t) => {
    t.uuid('order_id').notNullable().references('id').inTable('orders');
    t.uuid('product_id').notNullable();
    t.integer('quantity').notNullable();
    t.integer('unit_price_cents').notNullable();
    t.primary(['order_id', 'product_id']);
  });
}
