import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ModuleDb } from '../db/module-db.js';
import { AppError } from '../errors/app-error.js';
import { eventKey, type EventDefinition, type EventSubscription } from '../module/contract.js';
import type { EventConsumer, EventEnvelope } from './envelope.js';
import type { EventPublisher } from './event-publisher.js';

/** What a handler gets besides the payload. */
export interface HandlerContext {
  /** The transaction that also records the event in the inbox. */
  trx: Knex.Transaction;
  /** Publishes an event of this module in the same transaction. */
  publish<S extends z.ZodType>(event: EventDefinition<S>, payload: z.input<S>): Promise<string>;
  envelope: EventEnvelope;
  /** Bound to the event's correlation id, handler and event id. */
  logger: Logger;
}

/**
 * A module's reaction to an event: runs in one transaction together with the
 * inbox record, so its effect happens once however often the event arrives.
 *
 * @example
 * on(OrderPlaced, 'reserve-stock', async (payload, { trx, publish }) => { ... });
 */
export interface EventHandlerDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly event: EventSubscription<S>;
  handle(payload: z.output<S>, context: HandlerContext): Promise<void>;
}

export function on<S extends z.ZodType>(
  event: EventSubscription<S>,
  name: string,
  handle: (payload: z.output<S>, context: HandlerContext) => Promise<void>,
): EventHandlerDefinition<S> {
  return { name, event, handle };
}

export interface EventConsumerOptions {
  module: string;
  db: ModuleDb;
  publisher: EventPublisher;
  logger: Logger;
  definition: EventHandlerDefinition;
  onHandled?: (handlerId: string, outcome: 'handled' | 'duplicate' | 'dead_lettered') => void;
}

/** Builds the consumer a transport calls for one handler. */
export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { db, definition, publisher } = options;
  const handlerId = `${options.module}.${definition.name}`;
  return {
    handlerId,
    eventKey: eventKey(definition.event),
    async handle(envelope) {
      const logger = options.logger.child({ correlationId: envelope.correlationId, handler: handlerId, eventId: envelope.id, event: envelope.name });
      const parsed = definition.event.schema.safeParse(envelope.payload);
      if (!parsed.success) {
        throw new AppError('BAD_REQUEST', 'KERNEL.EVENT_UNREADABLE', `${envelope.name}@${envelope.version} does not match the schema of ${handlerId}`, {
          details: parsed.error.issues,
        });
      }
      const outcome = await db.transaction(
        async (trx) => {
          const fresh = await trx('inbox').insert({ event_id: envelope.id, handler: handlerId }).onConflict(['event_id', 'handler']).ignore().returning('event_id');
          if (fresh.length === 0) return 'duplicate' as const;
          await definition.handle(parsed.data, {
            trx,
            publish: (event, payload) => publisher.publish(trx, event, payload),
            envelope,
            logger,
          });
          return 'handled' as const;
        },
        { correlationId: envelope.correlationId },
      );
      logger.debug({ outcome }, 'event handled');
      options.onHandled?.(handlerId, outcome);
      return outcome;
    },
    async deadLetter(envelope, error, attempts) {
      const message = error instanceof Error ? error.message : String(error);
      options.logger.error({ err: error, correlationId: envelope.correlationId, handler: handlerId, eventId: envelope.id, attempts }, 'event dead-lettered');
      await db.read((k) =>
        k('dead_letters')
          .insert({
            id: randomUUID(),
            event_id: envelope.id,
            event_name: envelope.name,
            event_version: envelope.version,
            handler: handlerId,
            envelope: JSON.stringify(envelope),
            error: message,
            attempts,
          })
          .onConflict(['event_id', 'handler'])
          .merge({ error: message, attempts, failed_at: k.fn.now(), replayed_at: null }),
      );
      options.onHandled?.(handlerId, 'dead_lettered');
    },
  };
}
