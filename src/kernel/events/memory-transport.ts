import eventemitter2 from 'eventemitter2';
import { AppError } from '../errors/app-error.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, type EventConsumer, type EventEnvelope, type EventTransport } from './envelope.js';

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

/**
 * The in-process transport (eventemitter2). `publish` resolves only once every
 * subscriber has handled or dead-lettered the events, so the relay marks a row
 * published only after its effects are committed: a crash before that means
 * redelivery, never loss.
 *
 * @example
 * const transport = new MemoryTransport({ maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 });
 */
export class MemoryTransport implements EventTransport {
  readonly name = 'memory';
  readonly #emitter = new EventEmitter2({ wildcard: false, maxListeners: 0 });
  readonly #retry: RetryOptions;

  constructor(retry: RetryOptions = DEFAULT_RETRY) {
    this.#retry = retry;
  }

  subscribe(consumer: EventConsumer): void {
    this.#emitter.on(consumer.eventKey, (envelope: EventEnvelope) => this.#deliver(consumer, envelope));
  }

  async publish(envelopes: readonly EventEnvelope[]): Promise<void> {
    await Promise.all(envelopes.map((envelope) => this.#emitter.emitAsync(`${envelope.name}@${envelope.version}`, envelope)));
  }

  async #deliver(consumer: EventConsumer, envelope: EventEnvelope): Promise<void> {
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.#retry;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await consumer.handle(envelope);
        return;
      } catch (error) {
        // A payload the handler cannot read will not become readable by retrying.
        if (attempt >= maxAttempts || isUnreadable(error)) {
          // If storing the dead letter fails too, the error reaches the relay and the row is redelivered later.
          await consumer.deadLetter(envelope, error, attempt);
          return;
        }
        await sleep(backoffDelay(attempt, baseDelayMs, maxDelayMs));
      }
    }
  }

  async start(): Promise<void> {}

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
  }
}
