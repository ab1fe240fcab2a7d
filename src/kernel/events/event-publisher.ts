import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { callContextOf } from '../context/call-context.js';
import type { EventDefinition } from '../module/contract.js';

/**
 * Writes events to the module's outbox inside the caller's transaction, so an
 * event exists exactly when the state change that caused it is committed.
 *
 * @example
 * await db.transaction(async (trx) => {
 *   await trx('orders').insert(order);
 *   await events.publish(trx, OrderPlaced, { orderId: order.id });
 * });
 */
export interface EventPublisher {
  publish<S extends z.ZodType>(trx: Knex.Transaction, event: EventDefinition<S>, payload: z.input<S>): Promise<string>;
}

export interface EventPublisherOptions {
  module: string;
  /** The events this module declared in its contract; publishing another is a bug. */
  declared: readonly EventDefinition[];
  /** Called once the transaction that wrote events has committed. */
  onCommit: () => void;
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const declared = new Set(options.declared);
  return {
    async publish(trx, event, payload) {
      if (!declared.has(event)) {
        throw new AppError('INTERNAL', 'KERNEL.EVENT_NOT_DECLARED', `${options.module} publishes ${event.name}, which its contract does not declare`);
      }
      const parsed = event.schema.safeParse(payload);
      if (!parsed.success) {
        throw new AppError('INTERNAL', 'KERNEL.EVENT_INVALID', `${event.name}@${event.version} payload does not match its schema`, {
          details: parsed.error.issues,
        });
      }
      const id = randomUUID();
      await trx('outbox').insert({
        id,
        event_name: event.name,
        event_version: event.version,
        payload: JSON.stringify(parsed.data),
        // The transaction's context (the request, or the event being handled); an event
        // published outside any context starts a correlation of its own.
        correlation_id: callContextOf(trx)?.correlationId ?? id,
      });
      trx.executionPromise.then(options.onCommit, () => undefined);
      return id;
    },
  };
}
