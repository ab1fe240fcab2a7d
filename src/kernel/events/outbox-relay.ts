import type { Logger } from 'pino';
import type { ModuleDb } from '../db/module-db.js';
import type { EventDefinition } from '../module/contract.js';
import type { TraceSpan, Tracing } from '../tracing/tracing.js';
import type { EventEnvelope, EventTransport, PublishReceipt } from './envelope.js';
import { downcastsOf } from './event-versions.js';
import { claimEvents, markPublished, type ClaimedEvent, releaseAllClaims, releaseClaims, renewClaims } from './outbox-store.js';

export interface OutboxRelayOptions {
  db: ModuleDb;
  transport: EventTransport;
  logger: Logger;
  /** Rows claimed per round. */
  batchSize?: number;
  /** How often the outbox is polled when nothing nudges the relay. */
  pollMs?: number;
  /** How long a claim holds before another relay may take the row over. */
  leaseMs?: number;
  /**
   * Drops every claim at start. Only for a database no other process can
   * open (PGlite): there, a claim left at start was left by a dead process.
   */
  resetClaimsOnStart?: boolean;
  /** Called with the number of events handed over, for metrics. */
  onPublished?: (count: number) => void;
  /**
   * The events the module declares: an event whose definition has downcasts
   * is handed over with its payload at each older version they reach, for
   * consumers that still read one (ADR 0014).
   */
  events?: readonly EventDefinition[];
  /**
   * Present when tracing is on: each event handed over is a producer span,
   * child of its publish span (`envelope.traceparent`), and goes to the
   * transport with the relay span as its `traceparent`.
   */
  tracing?: Tracing | undefined;
}

export const DEFAULT_RELAY_BATCH_SIZE = 200;
export const DEFAULT_RELAY_POLL_MS = 1000;
export const DEFAULT_RELAY_LEASE_MS = 10_000;
const MAX_ERROR_BACKOFF_MS = 5_000;

/**
 * Hands committed outbox rows of one module to the transport, then marks
 * them published. Runs until stopped; a commit that wrote events nudges it.
 *
 * @example
 * const relay = new OutboxRelay({ db, transport, logger });
 * relay.start();
 * await relay.stop(); // finishes the round in flight
 */
export class OutboxRelay {
  readonly #options: Required<Omit<OutboxRelayOptions, 'onPublished' | 'events' | 'tracing'>> & Pick<OutboxRelayOptions, 'onPublished'>;
  readonly #tracing: Tracing | undefined;
  /** The declared events that have a downcast, by name. */
  readonly #downcasting: ReadonlyMap<string, EventDefinition>;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #nudged = false;
  /** Rows claimed and not yet marked: the round in flight and the events still being retried. */
  readonly #held = new Set<string | number>();
  /** Events whose first delivery failed, by outbox seq, until they settle. */
  readonly #retrying = new Map<string | number, Promise<void>>();
  #heartbeat: NodeJS.Timeout | undefined;
  /** The relay's statements, one at a time (see #statement). */
  #statements: Promise<unknown> = Promise.resolve();

  constructor(options: OutboxRelayOptions) {
    this.#options = {
      batchSize: DEFAULT_RELAY_BATCH_SIZE,
      pollMs: DEFAULT_RELAY_POLL_MS,
      leaseMs: DEFAULT_RELAY_LEASE_MS,
      resetClaimsOnStart: false,
      ...options,
    };
    this.#downcasting = new Map((options.events ?? []).filter((e) => e.from?.downcast).map((e) => [e.name, e]));
    this.#tracing = options.tracing;
  }

  /** The envelopes with a relay span each as their parent; the spans end when the transport has them. */
  #traced(envelopes: EventEnvelope[]): { envelopes: EventEnvelope[]; spans: TraceSpan[] } {
    const spans: TraceSpan[] = [];
    const traced = envelopes.map((envelope) => {
      const span = this.#tracing!.startSpan(`relay ${envelope.name}`, 'producer', envelope.traceparent, {
        'messaging.operation.type': 'send',
        'messaging.system': this.#options.transport.name,
        'messaging.destination.name': envelope.name,
        'messaging.message.id': envelope.id,
        'mmk.module': this.#options.db.schema,
        'mmk.correlation_id': envelope.correlationId,
      });
      spans.push(span);
      return { ...envelope, traceparent: span.traceparent };
    });
    return { envelopes: traced, spans };
  }

  /** Adds the older versions' payloads to the events whose definition downcasts. */
  #withDowncasts(envelope: EventEnvelope): EventEnvelope {
    const definition = this.#downcasting.get(envelope.name);
    if (!definition) return envelope;
    const downcasts = downcastsOf(definition, envelope.version, envelope.payload, (reason) =>
      // Checked on publish already: only a definition changed since the event was written gets here; consumers of the missing versions dead-letter it with the reason.
      this.#options.logger.error({ schema: this.#options.db.schema, eventId: envelope.id, event: envelope.name }, `downcasting an event failed: ${reason}`),
    );
    return downcasts ? { ...envelope, downcasts } : envelope;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    // A slow hand-over or a retried event keeps its claim alive; a dead process stops renewing it.
    this.#heartbeat = setInterval(() => this.#renew(), this.#options.leaseMs / 3);
    this.#loop = this.#run();
  }

  /** Asks for a round now instead of at the next poll. */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  /**
   * Stops after the round in flight; unpublished rows stay for the next start.
   * Events still being retried are let go: their claims are released, so the
   * next relay (this process restarted, or another) delivers them again.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    clearInterval(this.#heartbeat);
    const abandoned = [...this.#retrying.keys()];
    this.#retrying.clear();
    for (const seq of abandoned) this.#held.delete(seq);
    if (abandoned.length > 0) {
      await this.#statement(() => releaseClaims(this.#options.db, abandoned)).catch((error: unknown) =>
        this.#options.logger.warn({ err: error, schema: this.#options.db.schema, events: abandoned.length }, 'releasing the claims of retried events failed; they are delivered again once their lease expires'),
      );
    }
  }

  /** One round: claim, hand over, mark. Returns how many events were handed over. */
  async runOnce(): Promise<number> {
    const { db, transport, batchSize, leaseMs } = this.#options;
    const claimed = await this.#statement(() => claimEvents(db, batchSize, leaseMs));
    if (claimed.length === 0) return 0;
    for (const c of claimed) this.#held.add(c.seq);
    let receipt: PublishReceipt | void;
    let envelopes = this.#downcasting.size === 0 ? claimed.map((c) => c.envelope) : claimed.map((c) => this.#withDowncasts(c.envelope));
    let spans: TraceSpan[] | undefined;
    if (this.#tracing) ({ envelopes, spans } = this.#traced(envelopes));
    try {
      receipt = await transport.publish(envelopes);
    } catch (error) {
      for (const c of claimed) this.#held.delete(c.seq);
      if (spans) for (const span of spans) span.end(error);
      throw error;
    }
    if (spans) for (const span of spans) span.end();
    const done: ClaimedEvent[] = [];
    for (const c of claimed) {
      const retrying = receipt?.pending.get(c.envelope.id);
      if (retrying) this.#follow(c.seq, c.envelope.id, retrying);
      else done.push(c);
    }
    try {
      await this.#statement(() => markPublished(db, done.map((c) => c.seq)));
    } finally {
      for (const c of done) this.#held.delete(c.seq);
    }
    this.#options.onPublished?.(done.length);
    return claimed.length;
  }

  /** Marks a retried event published once it settles; lets it go if it cannot settle here. */
  #follow(seq: string | number, eventId: string, settled: Promise<void>): void {
    this.#retrying.set(seq, settled);
    const { db, logger } = this.#options;
    const forget = () => {
      this.#retrying.delete(seq);
      this.#held.delete(seq);
    };
    settled.then(
      async () => {
        if (this.#retrying.get(seq) !== settled) return; // stop() let it go already
        try {
          await this.#statement(() => markPublished(db, [seq]));
          this.#options.onPublished?.(1);
        } catch (error) {
          logger.warn({ err: error, schema: db.schema, eventId }, 'marking a retried event published failed; it is delivered again once its lease expires');
        } finally {
          forget();
        }
      },
      async (error: unknown) => {
        if (this.#retrying.get(seq) !== settled) return;
        forget();
        logger.warn({ err: error, schema: db.schema, eventId }, 'a retried event could not be settled; it stays in the outbox for a later round');
        await this.#statement(() => releaseClaims(db, [seq])).catch(() => undefined); // else its lease simply expires
      },
    );
  }

  /**
   * Runs the relay's outbox statements one after the other. The heartbeat's
   * renewal and the marking of a round update the same rows; run at once on
   * two connections, they can lock them in different orders and deadlock.
   */
  #statement<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#statements.then(fn, fn);
    this.#statements = run.catch(() => undefined);
    return run;
  }

  #renew(): void {
    if (this.#held.size === 0) return;
    const { db, leaseMs, logger } = this.#options;
    this.#statement(() => renewClaims(db, [...this.#held], leaseMs)).catch((error: unknown) => logger.warn({ err: error, schema: db.schema }, 'renewing outbox claims failed'));
  }

  async #run(): Promise<void> {
    let failures = 0;
    if (this.#options.resetClaimsOnStart) {
      await this.#statement(() => releaseAllClaims(this.#options.db)).catch((error: unknown) =>
        this.#options.logger.warn({ err: error, schema: this.#options.db.schema }, 'releasing the claims left by an earlier run failed; those events wait for their lease to expire'),
      );
    }
    while (this.#running) {
      this.#nudged = false;
      let published = 0;
      try {
        published = await this.runOnce();
        failures = 0;
      } catch (error) {
        failures += 1;
        this.#options.logger.warn({ err: error, schema: this.#options.db.schema }, 'outbox relay round failed; events stay in the outbox');
      }
      if (!this.#running) break;
      // A full batch means more is waiting: go again at once.
      if (published === this.#options.batchSize || this.#nudged) continue;
      const delay = failures > 0 ? Math.min(this.#options.pollMs * 2 ** failures, MAX_ERROR_BACKOFF_MS) : this.#options.pollMs;
      await this.#sleep(delay);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).then(() => {
      this.#wake = undefined;
    });
  }
}
