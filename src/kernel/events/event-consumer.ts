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
  /** Most events handled in one transaction (see createEventConsumer); 1 turns batching off. */
  maxBatch?: number;
}

export const DEFAULT_CONSUMER_BATCH = 200;

type Outcome = 'handled' | 'duplicate';

interface Pending {
  envelope: EventEnvelope;
  payload: unknown;
  resolve: (outcome: Outcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Builds the consumer a transport calls for one handler.
 *
 * Deliveries are group-committed: while one transaction of this handler is
 * running, the events that arrive meanwhile wait, and then run together in the
 * next transaction (one multi-row inbox insert, then the handler once per
 * fresh event, in arrival order). The first event of a quiet moment runs at
 * once, so batching adds no latency; under load it saves a transaction per
 * event. Should the shared transaction fail, every event of it runs again in a
 * transaction of its own, so a failing event fails (and is retried or
 * dead-lettered) alone and the others are not held back.
 */
export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { db, definition, publisher } = options;
  const handlerId = `${options.module}.${definition.name}`;
  const maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_CONSUMER_BATCH);
  const queue: Pending[] = [];
  let draining = false;

  const loggerFor = (envelope: EventEnvelope) =>
    options.logger.child({ correlationId: envelope.correlationId, handler: handlerId, eventId: envelope.id, event: envelope.name });

  function contextFor(trx: Knex.Transaction, envelope: EventEnvelope, logger: Logger): HandlerContext {
    const correlation = { correlationId: envelope.correlationId };
    return { trx, publish: (event, payload) => publisher.publish(trx, event, payload, correlation), envelope, logger };
  }

  function settled(item: Pending, outcome: Outcome, logger: Logger): void {
    // Resolved first: a failing log or metrics hook must not leave the delivery hanging.
    item.resolve(outcome);
    try {
      logger.debug({ outcome }, 'event handled');
      options.onHandled?.(handlerId, outcome);
    } catch (error) {
      options.logger.warn({ err: error, handler: handlerId }, 'event handled, but reporting it failed');
    }
  }

  /**
   * The events of `batch` in one transaction: one inbox insert for all, then
   * the handler for each fresh one, in order. A transaction of one event is
   * opened with that event's context.
   */
  function handleInOneTransaction(batch: readonly Pending[], loggers: readonly Logger[]): Promise<Outcome[]> {
    const context = batch.length === 1 ? { correlationId: batch[0]!.envelope.correlationId } : undefined;
    return db.transaction(async (trx) => {
      const ids = [...new Set(batch.map((item) => item.envelope.id))];
      const inserted = await trx('inbox')
        .insert(ids.map((id) => ({ event_id: id, handler: handlerId })))
        .onConflict(['event_id', 'handler'])
        .ignore()
        .returning<Array<{ event_id: string }>>('event_id');
      const fresh = new Set(inserted.map((row) => row.event_id));
      const result: Outcome[] = [];
      for (const [i, item] of batch.entries()) {
        // delete(): the same event twice in one batch runs once.
        if (!fresh.delete(item.envelope.id)) {
          result.push('duplicate');
          continue;
        }
        await definition.handle(item.payload, contextFor(trx, item.envelope, loggers[i]!));
        result.push('handled');
      }
      return result;
    }, context);
  }

  /** One event in a transaction of its own; its promise settles with the outcome or the error. */
  async function runAlone(item: Pending): Promise<void> {
    const logger = loggerFor(item.envelope);
    try {
      const [outcome] = await handleInOneTransaction([item], [logger]);
      settled(item, outcome!, logger);
    } catch (error) {
      item.reject(error);
    }
  }

  /** Several events in one transaction; on any failure, each again on its own. */
  async function runTogether(batch: Pending[]): Promise<void> {
    const loggers = batch.map((item) => loggerFor(item.envelope));
    let outcomes: Outcome[];
    try {
      outcomes = await handleInOneTransaction(batch, loggers);
    } catch {
      for (const item of batch) await runAlone(item);
      return;
    }
    batch.forEach((item, i) => settled(item, outcomes[i]!, loggers[i]!));
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        await (batch.length === 1 ? runAlone(batch[0]!) : runTogether(batch));
      }
    } finally {
      draining = false;
    }
  }

  return {
    handlerId,
    eventKey: eventKey(definition.event),
    handle(envelope) {
      const parsed = definition.event.schema.safeParse(envelope.payload);
      if (!parsed.success) {
        return Promise.reject(
          new AppError('BAD_REQUEST', 'KERNEL.EVENT_UNREADABLE', `${envelope.name}@${envelope.version} does not match the schema of ${handlerId}`, {
            details: parsed.error.issues,
          }),
        );
      }
      return new Promise<Outcome>((resolve, reject) => {
        queue.push({ envelope, payload: parsed.data, resolve, reject });
        if (!draining) {
          draining = true;
          // A microtask later: the events a transport hands over in one go share the first transaction.
          queueMicrotask(() => {
            drain().catch((error: unknown) => options.logger.error({ err: error, handler: handlerId }, 'event consumer failed'));
          });
        }
      });
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
