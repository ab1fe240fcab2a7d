import type { Logger } from 'pino';
import type { ModuleDb } from '../db/module-db.js';
import type { EventTransport } from './envelope.js';
import { claimEvents, markPublished, releaseAllClaims, renewClaims } from './outbox-store.js';

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
  readonly #options: Required<Omit<OutboxRelayOptions, 'onPublished'>> & Pick<OutboxRelayOptions, 'onPublished'>;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #nudged = false;

  constructor(options: OutboxRelayOptions) {
    this.#options = {
      batchSize: DEFAULT_RELAY_BATCH_SIZE,
      pollMs: DEFAULT_RELAY_POLL_MS,
      leaseMs: DEFAULT_RELAY_LEASE_MS,
      resetClaimsOnStart: false,
      ...options,
    };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Asks for a round now instead of at the next poll. */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  /** Stops after the round in flight; unpublished rows stay for the next start. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
  }

  /** One round: claim, hand over, mark. Returns how many events were published. */
  async runOnce(): Promise<number> {
    const { db, transport, batchSize, leaseMs } = this.#options;
    const claimed = await claimEvents(db, batchSize, leaseMs);
    if (claimed.length === 0) return 0;
    const seqs = claimed.map((c) => c.seq);
    // A slow hand-over (handlers retrying) keeps its claim alive; a dead process stops renewing it.
    const heartbeat = setInterval(() => {
      renewClaims(db, seqs, leaseMs).catch((error: unknown) => this.#options.logger.warn({ err: error }, 'renewing outbox claims failed'));
    }, leaseMs / 3);
    try {
      await transport.publish(claimed.map((c) => c.envelope));
    } finally {
      clearInterval(heartbeat);
    }
    await markPublished(db, seqs);
    this.#options.onPublished?.(claimed.length);
    return claimed.length;
  }

  async #run(): Promise<void> {
    let failures = 0;
    if (this.#options.resetClaimsOnStart) await releaseAllClaims(this.#options.db).catch(() => undefined);
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
