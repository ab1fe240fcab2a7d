import { setTimeout as sleep } from 'node:timers/promises';
import eventemitter2 from 'eventemitter2';
import { AppError } from '../errors/app-error.js';
import { backoffDelay, eventNameOf, type EventConsumer, type EventEnvelope, type EventTransport, type PublishReceipt } from './envelope.js';

// eventemitter2 is CommonJS: under ESM its classes hang off the default import.
const { EventEmitter2 } = eventemitter2;

export interface RetryOptions {
  /** Attempts before an event is dead-lettered (first try included). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

function isUnreadable(error: unknown): boolean {
  return error instanceof AppError && error.code === 'KERNEL.EVENT_UNREADABLE';
}

export const DEFAULT_RETRY: RetryOptions = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5_000 };

/** A first delivery: settled, or a promise of the retries that follow (wrapped, so `async` does not wait for it). */
type FirstAttempt = { retrying: Promise<void> } | undefined;

/**
 * The in-process transport (eventemitter2). `publish` resolves once every
 * subscriber has made its first attempt at the events. Events whose first
 * attempt failed are retried with backoff in the background and listed as
 * pending in the receipt: the relay marks a row published only after its
 * effects are committed or dead-lettered (a crash before that means
 * redelivery, never loss), and an event being retried never holds up the
 * others.
 *
 * @example
 * const transport = new MemoryTransport({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 });
 */
export class MemoryTransport implements EventTransport {
  readonly name = 'memory';
  readonly #emitter = new EventEmitter2({ wildcard: false, maxListeners: 0 });
  readonly #retry: RetryOptions;
  readonly #closing = new AbortController();

  constructor(retry: RetryOptions = DEFAULT_RETRY) {
    this.#retry = retry;
  }

  subscribe(consumer: EventConsumer): void {
    // By name: an event of another version than the consumer reads is converted by the consumer (ADR 0014).
    this.#emitter.on(eventNameOf(consumer.eventKey), (envelope: EventEnvelope) => this.#firstAttempt(consumer, envelope));
  }

  async publish(envelopes: readonly EventEnvelope[]): Promise<PublishReceipt> {
    const pending = new Map<string, Promise<void>>();
    await Promise.all(
      envelopes.map(async (envelope) => {
        const attempts = (await this.#emitter.emitAsync(envelope.name, envelope)) as FirstAttempt[];
        const retries = attempts.flatMap((attempt) => (attempt ? [attempt.retrying] : []));
        if (retries.length > 0) pending.set(envelope.id, Promise.all(retries).then(() => undefined));
      }),
    );
    return { pending };
  }

  async #firstAttempt(consumer: EventConsumer, envelope: EventEnvelope): Promise<FirstAttempt> {
    try {
      await consumer.handle(envelope);
      return undefined;
    } catch (error) {
      return { retrying: this.#settle(consumer, envelope, error, 1) };
    }
  }

  /** After failed attempt `attempt`: retries with backoff until handled, or dead-letters. */
  async #settle(consumer: EventConsumer, envelope: EventEnvelope, error: unknown, attempt: number): Promise<void> {
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.#retry;
    for (let failed = attempt, last = error; ; failed += 1) {
      // A payload the handler cannot read will not become readable by retrying.
      if (failed >= maxAttempts || isUnreadable(last)) {
        // If storing the dead letter fails too, this rejects and the relay leaves the row for a later round.
        await consumer.deadLetter(envelope, last, failed);
        return;
      }
      await sleep(backoffDelay(failed, baseDelayMs, maxDelayMs), undefined, { signal: this.#closing.signal });
      try {
        await consumer.handle(envelope);
        return;
      } catch (next) {
        last = next;
      }
    }
  }

  async start(): Promise<void> {}

  async ping(): Promise<void> {}

  /** Stops listening and abandons the retries in progress (their rows stay in the outbox). */
  async close(): Promise<void> {
    this.#closing.abort(new Error('the memory transport closed'));
    this.#emitter.removeAllListeners();
  }
}
