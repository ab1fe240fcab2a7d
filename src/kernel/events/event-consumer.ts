import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ModuleDb } from '../db/module-db.js';
import { AppError } from '../errors/app-error.js';
import { eventKey, type EventDefinition, type EventSubscription } from '../module/contract.js';
import type { FaultPoints } from '../testing/fault-points.js';
import { traceIdOf, type Tracing } from '../tracing/tracing.js';
import type { EventConsumer, EventEnvelope } from './envelope.js';
import type { EventPublisher } from './event-publisher.js';
import { payloadAtVersion } from './event-versions.js';

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

/** How a handler may be run; see `on`. */
export interface HandlerOptions {
  /**
   * Transactions of this handler that may run at once in one process
   * (`EVENT_HANDLER_CONCURRENCY` by default). Events of one correlation id
   * always share a lane, so they are handled in the order they arrive.
   * 1 runs the handler's transactions one after the other.
   */
  concurrency?: number;
}

/** One event of a batch, as a batch handler gets it. */
export interface BatchItem<S extends z.ZodType = z.ZodType> {
  payload: z.output<S>;
  envelope: EventEnvelope;
  /** Bound to this event's correlation id, handler and event id. */
  logger: Logger;
  /** Publishes an event caused by this one (with its correlation id), in the batch's transaction. */
  publish<P extends z.ZodType>(event: EventDefinition<P>, payload: z.input<P>): Promise<string>;
}

/**
 * A module's reaction to an event: runs in one transaction together with the
 * inbox record, so its effect happens once however often the event arrives.
 * Either `handle` (one event at a time, see `on`) or `handleBatch` (every
 * fresh event of a group-committed batch at once, see `onBatch`).
 *
 * @example
 * on(OrderPlaced, 'reserve-stock', async (payload, { trx, publish }) => { ... });
 */
export interface EventHandlerDefinition<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly event: EventSubscription<S>;
  readonly options?: HandlerOptions;
  readonly handle?: (payload: z.output<S>, context: HandlerContext) => Promise<void>;
  readonly handleBatch?: (items: Array<BatchItem<S>>, context: { trx: Knex.Transaction; logger: Logger }) => Promise<void>;
}

export function on<S extends z.ZodType>(
  event: EventSubscription<S>,
  name: string,
  handle: (payload: z.output<S>, context: HandlerContext) => Promise<void>,
  options?: HandlerOptions,
): EventHandlerDefinition<S> {
  return { name, event, handle, ...(options ? { options } : {}) };
}

/**
 * A handler that takes the fresh events of a batch at once, in arrival order,
 * so it can do set-based work: lock every row the batch needs in one
 * statement (in one order, so concurrent batches cannot deadlock), update
 * them in one statement, insert in one. Under load that is a few round trips
 * per batch instead of a few per event. If it throws, each event of the batch
 * runs again alone (a batch of one), so a failing event is retried and
 * dead-lettered alone, as with `on`.
 *
 * @example
 * onBatch(PaymentCaptured, 'confirm-order', async (items, { trx }) => {
 *   await trx('orders').whereIn('id', items.map((i) => i.payload.orderId)).update({ status: 'confirmed' });
 * });
 */
export function onBatch<S extends z.ZodType>(
  event: EventSubscription<S>,
  name: string,
  handleBatch: (items: Array<BatchItem<S>>, context: { trx: Knex.Transaction; logger: Logger }) => Promise<void>,
  options?: HandlerOptions,
): EventHandlerDefinition<S> {
  return { name, event, handleBatch, ...(options ? { options } : {}) };
}

/**
 * What became of one delivery attempt (the `outcome` label of
 * `events_handled_total`); `conflict` counts transactions run again at once
 * after PostgreSQL aborted them for a deadlock or a serialization failure.
 */
export type DeliveryOutcome = 'handled' | 'duplicate' | 'failed' | 'dead_lettered' | 'conflict';

export interface EventConsumerOptions {
  module: string;
  db: ModuleDb;
  publisher: EventPublisher;
  logger: Logger;
  definition: EventHandlerDefinition;
  onHandled?: (handlerId: string, outcome: DeliveryOutcome) => void;
  /** Most events handled in one transaction (see createEventConsumer); 1 turns batching off. */
  maxBatch?: number;
  /** Lanes when the handler sets no `concurrency` of its own. */
  concurrency?: number;
  /** Test-only fault points (MMK_FAULT_POINTS); absent in production. */
  faults?: FaultPoints;
  /**
   * The publisher's definition of the event, as this process knows it: its
   * version history converts an event of another version than the handler
   * reads (see `payloadAtVersion`).
   */
  published?: EventDefinition;
  /**
   * Present when tracing is on: each delivery is a consumer span, child of
   * the envelope's `traceparent` (the relay's span in the publishing
   * process), and the events the handler publishes are its children.
   */
  tracing?: Tracing | undefined;
}

export const DEFAULT_CONSUMER_BATCH = 200;
/** Immediate re-runs of a transaction PostgreSQL aborted for a deadlock or a serialization failure. */
const MAX_CONFLICT_RETRIES = 3;

/** PostgreSQL's deadlock_detected (40P01) and serialization_failure (40001). */
function isTransactionConflict(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}
export const DEFAULT_HANDLER_CONCURRENCY = 4;

type Outcome = 'handled' | 'duplicate';

interface Pending {
  envelope: EventEnvelope;
  payload: unknown;
  /** The delivery's span when tracing is on: the parent of what the handler publishes. */
  traceparent: string | undefined;
  resolve: (outcome: Outcome) => void;
  reject: (error: unknown) => void;
}

interface Lane {
  queue: Pending[];
  draining: boolean;
  /** When the oldest event of the batch in flight occurred (ms), if one is. */
  inFlightSince: number | undefined;
}

/** A cheap, stable spread of correlation ids over lanes (FNV-1a). */
function laneIndex(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

/**
 * Builds the consumer a transport calls for one handler.
 *
 * Deliveries are spread over the handler's lanes by correlation id, so up to
 * `concurrency` transactions of the handler run at once while the events of
 * one correlation (one request and what it caused) keep their order. Within a
 * lane they are group-committed: while one transaction runs, the events that
 * arrive meanwhile wait, then run together in the next transaction (one
 * multi-row inbox insert, then the handler once per fresh event, in arrival
 * order). The first event of a quiet moment runs at once, so batching adds no
 * latency; under load it saves a transaction per event. Should the shared
 * transaction fail, every event of it runs again in a transaction of its own,
 * so a failing event fails (and is retried or dead-lettered) alone and the
 * others are not held back.
 */
export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { db, definition, publisher, faults, tracing } = options;
  const handlerId = `${options.module}.${definition.name}`;
  const maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_CONSUMER_BATCH);
  const concurrency = Math.max(1, definition.options?.concurrency ?? options.concurrency ?? DEFAULT_HANDLER_CONCURRENCY);
  const lanes: Lane[] = Array.from({ length: concurrency }, () => ({ queue: [], draining: false, inFlightSince: undefined }));

  const loggerFor = ({ correlationId, id, name, traceparent }: EventEnvelope) =>
    traceparent === undefined
      ? options.logger.child({ correlationId, handler: handlerId, eventId: id, event: name })
      : options.logger.child({ correlationId, trace_id: traceIdOf(traceparent), handler: handlerId, eventId: id, event: name });

  /** The context of what a delivery publishes: the event's correlation id and, when traced, the delivery's span. */
  const publishContextOf = ({ envelope, traceparent }: Pending) =>
    traceparent === undefined ? { correlationId: envelope.correlationId } : { correlationId: envelope.correlationId, traceparent };

  function contextFor(trx: Knex.Transaction, item: Pending, logger: Logger): HandlerContext {
    const correlation = publishContextOf(item);
    return { trx, publish: (event, payload) => publisher.publish(trx, event, payload, correlation), envelope: item.envelope, logger };
  }

  function batchItem(trx: Knex.Transaction, item: Pending, logger: Logger): BatchItem {
    const correlation = publishContextOf(item);
    return { payload: item.payload, envelope: item.envelope, logger, publish: (event, payload) => publisher.publish(trx, event, payload, correlation) };
  }

  function report(outcome: DeliveryOutcome): void {
    try {
      options.onHandled?.(handlerId, outcome);
    } catch (error) {
      options.logger.warn({ err: error, handler: handlerId, outcome }, 'reporting an event delivery failed');
    }
  }

  function settled(item: Pending, outcome: Outcome, logger: Logger): void {
    // Resolved first: a failing log or metrics hook must not leave the delivery hanging.
    item.resolve(outcome);
    logger.debug({ outcome }, 'event handled');
    report(outcome);
  }

  /**
   * The events of `batch` in one transaction: one inbox insert for all, then
   * the handler for each fresh one, in order. A transaction of one event is
   * opened with that event's context.
   */
  async function handleInOneTransaction(batch: readonly Pending[], loggers: readonly Logger[]): Promise<Outcome[]> {
    const context = batch.length === 1 ? publishContextOf(batch[0]!) : undefined;
    const ids = [...new Set(batch.map((item) => item.envelope.id))];
    const outcomes = await db.transaction(async (trx) => {
      const inserted = await trx('inbox')
        .insert(ids.map((id) => ({ event_id: id, handler: handlerId })))
        .onConflict(['event_id', 'handler'])
        .ignore()
        .returning<Array<{ event_id: string }>>('event_id');
      const fresh = new Set(inserted.map((row) => row.event_id));
      const result: Outcome[] = [];
      const toHandle: number[] = [];
      for (const [i, item] of batch.entries()) {
        // delete(): the same event twice in one batch runs once.
        if (fresh.delete(item.envelope.id)) {
          toHandle.push(i);
          result.push('handled');
        } else {
          result.push('duplicate');
        }
      }
      if (faults) for (const i of toHandle) await faults.hit('event.before-handle', handlerId, { eventId: batch[i]!.envelope.id });
      if (definition.handleBatch) {
        if (toHandle.length > 0) await definition.handleBatch(toHandle.map((i) => batchItem(trx, batch[i]!, loggers[i]!)), { trx, logger: options.logger.child({ handler: handlerId }) });
      } else {
        for (const i of toHandle) await definition.handle!(batch[i]!.payload, contextFor(trx, batch[i]!, loggers[i]!));
      }
      return result;
    }, context);
    faults?.hit('event.after-commit', handlerId, { eventIds: ids, handled: outcomes.filter((o) => o === 'handled').length });
    return outcomes;
  }

  /** One event in a transaction of its own; its promise settles with the outcome or the error. */
  async function runAlone(item: Pending): Promise<void> {
    const logger = loggerFor(item.envelope);
    try {
      let outcome: Outcome | undefined;
      for (let conflicts = 0; outcome === undefined; ) {
        try {
          [outcome] = await handleInOneTransaction([item], [logger]);
        } catch (error) {
          // A deadlock or serialization failure says nothing about the event: run it again at once.
          if (!isTransactionConflict(error) || ++conflicts > MAX_CONFLICT_RETRIES) throw error;
          logger.debug({ err: error, conflicts }, 'event transaction lost a conflict; running it again');
          report('conflict');
        }
      }
      settled(item, outcome, logger);
    } catch (error) {
      // The transport retries or dead-letters it; each failed attempt is counted and logged here.
      logger.warn({ err: error }, 'event handler failed');
      report('failed');
      item.reject(error);
    }
  }

  /** Several events in one transaction; on any failure, each again on its own. */
  async function runTogether(batch: Pending[]): Promise<void> {
    const loggers = batch.map((item) => loggerFor(item.envelope));
    let outcomes: Outcome[];
    try {
      outcomes = await handleInOneTransaction(batch, loggers);
    } catch (error) {
      options.logger.info(
        { err: error, handler: handlerId, events: batch.length, eventIds: batch.slice(0, 10).map((item) => item.envelope.id) },
        'a batch of events failed together; each runs again alone',
      );
      for (const item of batch) await runAlone(item);
      return;
    }
    batch.forEach((item, i) => settled(item, outcomes[i]!, loggers[i]!));
  }

  async function drain(lane: Lane): Promise<void> {
    try {
      while (lane.queue.length > 0) {
        const batch = lane.queue.splice(0, maxBatch);
        lane.inFlightSince = Date.parse(batch[0]!.envelope.occurredAt);
        await (batch.length === 1 ? runAlone(batch[0]!) : runTogether(batch));
      }
    } finally {
      lane.draining = false;
      lane.inFlightSince = undefined;
    }
  }

  return {
    handlerId,
    eventKey: eventKey(definition.event),
    handle(envelope) {
      const read = payloadAtVersion(envelope, definition.event.version, options.published);
      if (!read.ok) {
        report('failed');
        // Not retried (KERNEL.EVENT_UNREADABLE): dead-lettered at once with the reason, and replayable once a deploy adds the missing step.
        return Promise.reject(new AppError('BAD_REQUEST', 'KERNEL.EVENT_UNREADABLE', `${handlerId} reads ${envelope.name}@${definition.event.version} and cannot read this v${envelope.version} event: ${read.reason}`));
      }
      const parsed = definition.event.schema.safeParse(read.payload);
      if (!parsed.success) {
        report('failed');
        return Promise.reject(
          new AppError('BAD_REQUEST', 'KERNEL.EVENT_UNREADABLE', `${envelope.name}@${envelope.version}${envelope.version === definition.event.version ? '' : ` (read as v${definition.event.version})`} does not match the schema of ${handlerId}`, {
            details: parsed.error.issues,
          }),
        );
      }
      const lane = lanes.length === 1 ? lanes[0]! : lanes[laneIndex(envelope.correlationId, lanes.length)]!;
      const span = tracing?.startSpan(`handle ${envelope.name}`, 'consumer', envelope.traceparent, {
        'messaging.operation.type': 'process',
        'messaging.destination.name': envelope.name,
        'messaging.message.id': envelope.id,
        'mmk.handler': handlerId,
        'mmk.correlation_id': envelope.correlationId,
      });
      const delivered = new Promise<Outcome>((resolve, reject) => {
        lane.queue.push({ envelope, payload: parsed.data, traceparent: span?.traceparent, resolve, reject });
        if (!lane.draining) {
          lane.draining = true;
          // A microtask later: the events a transport hands over in one go share the first transaction.
          queueMicrotask(() => {
            drain(lane).catch((error: unknown) => options.logger.error({ err: error, handler: handlerId }, 'event consumer failed'));
          });
        }
      });
      if (span === undefined) return delivered;
      return delivered.then(
        (outcome) => {
          span.setAttribute('mmk.outcome', outcome);
          span.end();
          return outcome;
        },
        (error: unknown) => {
          span.end(error);
          throw error;
        },
      );
    },
    lagMs() {
      const now = Date.now();
      let oldest = now;
      for (const lane of lanes) {
        // Comparisons, not Math.min: an unreadable occurredAt (NaN) is left out instead of spoiling the figure.
        if (lane.inFlightSince !== undefined && lane.inFlightSince < oldest) oldest = lane.inFlightSince;
        const head = lane.queue[0] ? Date.parse(lane.queue[0].envelope.occurredAt) : now;
        if (head < oldest) oldest = head;
      }
      return now - oldest;
    },
    async deadLetter(envelope, error, attempts) {
      const message = error instanceof Error ? error.message : String(error);
      options.logger.error({ err: error, correlationId: envelope.correlationId, handler: handlerId, eventId: envelope.id, event: envelope.name, attempts }, 'event dead-lettered');
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
      report('dead_lettered');
    },
  };
}
