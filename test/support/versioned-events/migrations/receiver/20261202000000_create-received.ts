import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // No unique key on message_id on purpose: a message handled twice shows as two rows.
  await knex.schema.createTable('received', (t) => {
    t.bigIncrements('seq');
    t.uuid('message_id').notNullable();
    t.text('text').notNullable();
    t.text('lang');
    t.integer('event_version').notNullable();
    t.integer('read_as').notNullable();
  });
}
