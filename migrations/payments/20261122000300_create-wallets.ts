import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('wallets', (t) => {
    t.text('customer_id').primary();
    t.bigInteger('balance_cents').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check('?? >= 0', ['balance_cents'], 'wallets_balance_not_negative');
  });
  await knex.schema.createTable('payments', (t) => {
    t.uuid('order_id').primary();
    t.text('customer_id').notNullable();
    t.bigInteger('amount_cents').notNullable();
    t.text('status').notNullable();
    t.text('decline_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}
