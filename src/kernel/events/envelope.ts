import type { LagReading } from '../admission/lag-monitor.js';

/** An event as stored in the outbox and carried by every transport. */
export interface EventEnvelope {
  id: string;
  name: string;
  version: number;
  /** The module whose outbox holds the event. */
  source: string;
  payload: unknown;
  correlationId: string;
  occurredAt: string;
  /**
   * The payload at older versions, by version, as the publisher's relay
   * downcast it (`EventVersionStep.downcast`), for consumers that still read
   * an older version than `version`. Absent when the event has no downcast.
   */
  downcasts?: Readonly<Record<string, unknown>>;
  /**
   * The W3C `traceparent` of the span that published the event (the relay's
   * span once relayed), when the publishing process traces
   * (`OTEL_EXPORTER_OTLP_ENDPOINT`): a handler's span is its child, so one
   * request and the events it causes make one trace across processes.
   */
  traceparent?: string | undefined;
}

/**
 * What a transport did with a relay round. Events in `pending` are not yet
 * handed over: their first delivery failed and this process is retrying them.
 * Each promise resolves once its event is handled or dead-lettered, and
 * rejects if it cannot be (the process stops, the dead-letter store is
 * down); the relay keeps the event's outbox row claimed until then, so a
 * crash meanwhile means redelivery, never loss, and the round's other events
 * are not held up.
 */
export interface PublishReceipt {
  /** By event id. */
  readonly pending: ReadonlyMap<string, Promise<void>>;
}

/**
 * Moves committed events from outboxes to subscribers. `publish` resolves when
 * the events are safely handed over: handled (memory) or stored by the broker,
 * except those the receipt lists as pending.
 */
export interface EventTransport {
  readonly name: string;
  /** Registers a consumer; the transport owns retries and calls `deadLetter` when they run out. */
  subscribe(consumer: EventConsumer): void;
  publish(envelopes: readonly EventEnvelope[]): Promise<PublishReceipt | void>;
  start(): Promise<void>;
  /** Resolves when the transport can carry events; throws otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** A broker's view of how far behind each handler's queue is (ADR 0009). */
  queueLag?(): Promise<LagReading[]>;
  /** Shares this process's lag readings and returns the other processes' (ADR 0009). */
  exchangeLag?(local: readonly LagReading[]): Promise<LagReading[]>;
  /** A broker's persistence: whether the events waiting in it survive its restart (`/health`). */
  durability?(): BrokerDurability;
}

/**
 * What a broker keeps on disk: `aof` (Redis `appendonly yes`), `none` (a
 * restart loses the events waiting in it), or `unknown` (it would not say,
 * such as a managed Redis that refuses CONFIG). `warning` says what to do
 * unless it is `aof`.
 */
export interface BrokerDurability {
  persistence: 'aof' | 'none' | 'unknown';
  warning?: string;
}

/** What a transport needs to deliver events to one handler. */
export interface EventConsumer {
  /** `<module>.<handler>`, unique in the system; the inbox key. */
  readonly handlerId: string;
  /** `<event name>@<version>`. */
  readonly eventKey: string;
  /** Runs the handler once, in a transaction with its inbox record; a redelivery is a no-op. */
  handle(envelope: EventEnvelope): Promise<'handled' | 'duplicate'>;
  /** Stores an event whose handler kept failing; replayable later. */
  deadLetter(envelope: EventEnvelope, error: unknown, attempts: number): Promise<void>;
  /** Age in ms of the oldest event handed to this consumer and not yet handled (0 when idle). */
  lagMs(): number;
}

/**
 * The event name of an event key (`orders.OrderPlaced@1` → `orders.OrderPlaced`).
 * Transports route by name, every version to every consumer of the name: the
 * consumer reads each at its own version (ADR 0014).
 */
export function eventNameOf(key: string): string {
  const at = key.lastIndexOf('@');
  return at < 0 ? key : key.slice(0, at);
}

/** Delay before retry number `attempt` (1-based): exponential with a cap. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), maxMs);
}
