import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('products', (t) => {
    t.uuid('id').primary();
    t.text('sku').notNullable().unique();
    t.text('name').notNullable();
    t.integer('price_cents').notNullable();
    // Available units; the check is the last line of defence against oversell.
    t.integer('stock').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('?? >= 0', ['price_cents'], 'products_price_not_negative');
    t.check('?? >= 0', ['stock'], 'products_stock_not_negative');
  });
  await knex.schema.createTable('reservations', (t) => {
    t.uuid('order_id').notNullable();
    t.uuid('product_id').notNullable().references('id').inTable('products');
    t.integer('quantity').notNullable();
    t.text('status').notNullable().defaultTo('reserved');
    t.primary(['order_id', 'product_id']);
  });
}
