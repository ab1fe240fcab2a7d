import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { callContextOf, type CallContext } from '../context/call-context.js';
import { onBeforeCommit } from '../db/transaction-body.js';
import type { EventDefinition } from '../module/contract.js';
import type { Tracing } from '../tracing/tracing.js';
import { downcastsOf } from './event-versions.js';

/**
 * Writes events to the module's outbox inside the caller's transaction, so an
 * event exists exactly when the state change that caused it is committed. The
 * rows are buffered and written with one insert just before the transaction
 * commits (at once inside a savepoint).
 *
 * @example
 * await db.transaction(async (trx) => {
 *   await trx('orders').insert(order);
 *   await events.publish(trx, OrderPlaced, { orderId: order.id });
 * });
 */
export interface EventPublisher {
  /**
   * Writes the event in `trx`. Its correlation id is `context`'s, else the one
   * the transaction was opened with, else the event's own id.
   */
  publish<S extends z.ZodType>(trx: Knex.Transaction, event: EventDefinition<S>, payload: z.input<S>, context?: CallContext): Promise<string>;
  /**
   * Writes several events of one kind in `trx` with a single insert (in the
   * order given); every payload is validated first, so either all are written
   * or none. Returns their ids.
   */
  publishMany<S extends z.ZodType>(trx: Knex.Transaction, event: EventDefinition<S>, payloads: ReadonlyArray<z.input<S>>, context?: CallContext): Promise<string[]>;
}

export interface EventPublisherOptions {
  module: string;
  /** The events this module declared in its contract; publishing another is a bug. */
  declared: readonly EventDefinition[];
  /** Called once the transaction that wrote events has committed. */
  onCommit: () => void;
  /**
   * Present when tracing is on: each publish is a producer span, child of the
   * context's span, ended when the transaction ends; its `traceparent` is
   * stored with the rows (`outbox.trace_parent`) and travels in the envelope,
   * so the relay and the handlers continue the trace, in whatever process.
   */
  tracing?: Tracing | undefined;
}

const INSERT_CHUNK = 1_000;

interface OutboxRow {
  id: string;
  event_name: string;
  event_version: number;
  payload: string;
  correlation_id: string;
  /** The publish span's W3C traceparent; only when tracing is on. */
  trace_parent?: string;
}

export function createEventPublisher(options: EventPublisherOptions): EventPublisher {
  const declared = new Set(options.declared);
  /** Rows waiting for their transaction's commit, by transaction. */
  const pending = new WeakMap<Knex.Transaction, OutboxRow[]>();

  const { tracing } = options;

  function outboxRow(trx: Knex.Transaction, event: EventDefinition, payload: unknown, context: CallContext | undefined): OutboxRow {
    const parsed = event.schema.safeParse(payload);
    if (!parsed.success) {
      throw new AppError('INTERNAL', 'KERNEL.EVENT_INVALID', `${event.name}@${event.version} payload does not match its schema`, {
        details: parsed.error.issues,
      });
    }
    // A downcast that fails or yields what the older version rejects fails the publishing transaction, not a consumer later.
    if (event.from?.downcast) {
      downcastsOf(event, event.version, parsed.data, (reason) => {
        throw new AppError('INTERNAL', 'KERNEL.EVENT_INVALID', `${event.name}@${event.version} cannot be published for the consumers of older versions: ${reason}`);
      });
    }
    const id = randomUUID();
    return {
      id,
      event_name: event.name,
      event_version: event.version,
      payload: JSON.stringify(parsed.data),
      // The transaction's context (the request, or the event being handled); an event
      // published outside any context starts a correlation of its own.
      correlation_id: (context ?? callContextOf(trx))?.correlationId ?? id,
    };
  }

  async function insert(trx: Knex.Transaction, rows: readonly OutboxRow[]): Promise<void> {
    // Chunks keep an insert under PostgreSQL's 65,535 parameters (5 per row).
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx('outbox').insert(rows.slice(i, i + INSERT_CHUNK));
  }

  async function write(trx: Knex.Transaction, event: EventDefinition, payloads: readonly unknown[], context: CallContext | undefined): Promise<string[]> {
    if (!declared.has(event)) {
      throw new AppError('INTERNAL', 'KERNEL.EVENT_NOT_DECLARED', `${options.module} publishes ${event.name}, which its contract does not declare`);
    }
    if (payloads.length === 0) return [];
    const rows = payloads.map((payload) => outboxRow(trx, event, payload, context));
    if (tracing) traceRows(trx, event, rows, context);
    let buffered = pending.get(trx);
    if (!buffered) {
      // The rows of a whole transaction go to the outbox in one insert, just before it commits:
      // a batch of 50 handled events costs one round trip, not 50. Only a savepoint (nested
      // transaction), which the kernel does not commit itself, writes at once.
      const flush = async () => {
        const rows = pending.get(trx) ?? [];
        pending.delete(trx);
        await insert(trx, rows);
      };
      if (onBeforeCommit(trx, flush)) {
        buffered = [];
        pending.set(trx, buffered);
        trx.executionPromise.then(options.onCommit, () => undefined);
      }
    }
    if (buffered) buffered.push(...rows);
    else {
      await insert(trx, rows);
      trx.executionPromise.then(options.onCommit, () => undefined);
    }
    return rows.map((row) => row.id);
  }

  /** One producer span for the rows of one publish call, ended with the transaction. */
  function traceRows(trx: Knex.Transaction, event: EventDefinition, rows: OutboxRow[], context: CallContext | undefined): void {
    const parent = (context ?? callContextOf(trx))?.traceparent;
    const span = tracing!.startSpan(`publish ${event.name}`, 'producer', parent, {
      'messaging.operation.type': 'send',
      'messaging.destination.name': event.name,
      'messaging.batch.message_count': rows.length,
      'mmk.module': options.module,
      'mmk.event_version': event.version,
    });
    if (rows.length === 1) span.setAttribute('messaging.message.id', rows[0]!.id);
    for (const row of rows) row.trace_parent = span.traceparent;
    trx.executionPromise.then(
      () => span.end(),
      (error: unknown) => span.end(error ?? 'the transaction rolled back'),
    );
  }

  return {
    async publish(trx, event, payload, context) {
      const [id] = await write(trx, event, [payload], context);
      return id!;
    },
    publishMany: (trx, event, payloads, context) => write(trx, event, payloads, context),
  };
}
