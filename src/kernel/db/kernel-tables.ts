import type { Knex } from 'knex';

/** The kernel's mark on a module schema whose data `move-data` copied to another database: where it went. */
export const MOVED_TABLE = 'mmk_moved';

/** A migration: `up` runs in a transaction in the module's schema. */
export interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
}

/**
 * The kernel's own tables, created in every module's schema before the
 * module's migrations, so a module moves to another database with its
 * outbox, inbox and dead letters.
 */
export const KERNEL_MIGRATIONS: readonly Migration[] = [
  {
    name: '00000000000000_kernel-event-tables',
    async up(knex) {
      await knex.schema.createTable('outbox', (t) => {
        t.bigIncrements('seq').primary();
        t.uuid('id').notNullable().unique();
        t.text('event_name').notNullable();
        t.integer('event_version').notNullable();
        t.jsonb('payload').notNullable();
        t.text('correlation_id').notNullable();
        t.timestamp('occurred_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('claimed_until', { useTz: true });
        t.timestamp('published_at', { useTz: true });
      });
      await knex.raw('create index outbox_unpublished on outbox (seq) where published_at is null');
      await knex.schema.createTable('inbox', (t) => {
        t.uuid('event_id').notNullable();
        t.text('handler').notNullable();
        t.timestamp('processed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.primary(['event_id', 'handler']);
      });
      await knex.schema.createTable('dead_letters', (t) => {
        t.uuid('id').primary();
        t.uuid('event_id').notNullable();
        t.text('event_name').notNullable();
        t.integer('event_version').notNullable();
        t.text('handler').notNullable();
        t.jsonb('envelope').notNullable();
        t.text('error').notNullable();
        t.integer('attempts').notNullable();
        t.timestamp('failed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
        t.timestamp('replayed_at', { useTz: true });
        t.unique(['event_id', 'handler']);
      });
    },
  },
  {
    // The trace context of the span that published each event (ADR 0016); null when the publisher did not trace.
    name: '00000000000001_kernel-outbox-trace-parent',
    async up(knex) {
      await knex.schema.alterTable('outbox', (t) => {
        t.text('trace_parent');
      });
    },
  },
];
