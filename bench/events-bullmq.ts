/**
 * BullMQ as the kit's transport sets it up (src/kernel/events/bullmq-transport.ts),
 * written again for the raw and hand-written pipelines of `npm run bench:events`:
 * the same client settings, job options, job ids and worker options, so that
 * the pipelines differ only in what the bench compares.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions, type JobsOptions, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
// A URL parser with no dependency: the same client settings as the kit's, without loading the kit.
import { redisOptionsFromUrl as redisOptions } from '../src/kernel/events/redis-connection.js';
import type { EventEnvelope } from '../src/kernel/events/envelope.js';
import type { DeliverySettings } from './events-job.js';

/** An event as the kit's transports carry it (the type only: no kit code runs). */
export type Envelope = EventEnvelope;

/** A job's data: the events of one relay round for one handler. */
export interface BatchJobData {
  envelopes: Envelope[];
}

export const HANDLER_ID = 'bench.noop';

/** An envelope like the kit's (the same fields, so every pipeline serializes the same amount of data). */
export function benchEnvelope(n: number): Envelope {
  const id = randomUUID();
  return { id, name: 'bench.Tick', version: 1, source: 'bench', payload: { n }, correlationId: id, occurredAt: new Date().toISOString() };
}

/** The kit's job id of a batch: the same events for the same handler give the same id. */
export function batchJobId(envelopes: readonly Envelope[], handlerId: string): string {
  if (envelopes.length === 1) return `${envelopes[0]!.id}.${handlerId}`;
  const digest = createHash('sha256').update(envelopes.map((e) => e.id).join(',')).digest('hex').slice(0, 32);
  return `batch-${envelopes.length}-${digest}.${handlerId}`;
}

function jobOptions(envelopes: readonly Envelope[], delivery: DeliverySettings): JobsOptions {
  return {
    jobId: batchJobId(envelopes, HANDLER_ID),
    attempts: delivery.maxAttempts,
    backoff: { type: 'exponential', delay: delivery.retryBaseDelayMs },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 24 * 3600 },
  };
}

/** The producer side: one queue on a fail-fast connection, as the kit's transport has. */
export class BatchQueue {
  readonly #client: Redis;
  readonly #queue: Queue;
  readonly #delivery: DeliverySettings;

  private constructor(client: Redis, queue: Queue, delivery: DeliverySettings) {
    this.#client = client;
    this.#queue = queue;
    this.#delivery = delivery;
  }

  static async open(redisUrl: string, prefix: string, delivery: DeliverySettings): Promise<BatchQueue> {
    const client = new Redis({ ...redisOptions(redisUrl), enableOfflineQueue: false, commandTimeout: 5_000, lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    await client.connect();
    const queue = new Queue(HANDLER_ID, { connection: client, prefix, skipWaitingForReady: true } as never);
    return new BatchQueue(client, queue, delivery);
  }

  /** One job holding `envelopes` (the kit: one job per relay round and handler). */
  async add(envelopes: Envelope[]): Promise<void> {
    await this.#queue.add(envelopes.length === 1 ? envelopes[0]!.name : 'events', { envelopes } satisfies BatchJobData, jobOptions(envelopes, this.#delivery));
  }

  async close(): Promise<void> {
    await this.#queue.close();
    this.#client.disconnect();
  }
}

/** A worker with the kit's options (concurrency, lock, stalled checks). */
export function batchWorker(redisUrl: string, prefix: string, delivery: DeliverySettings, processor: Processor<BatchJobData>): Worker<BatchJobData> {
  const worker = new Worker<BatchJobData>(HANDLER_ID, processor, {
    connection: { ...redisOptions(redisUrl), maxRetriesPerRequest: null } as ConnectionOptions,
    prefix,
    concurrency: delivery.workerConcurrency,
    lockDuration: delivery.lockMs,
    stalledInterval: Math.max(1_000, delivery.lockMs / 2),
    maxStalledCount: 1_000,
  });
  worker.on('error', (error) => console.error(`${HANDLER_ID} worker error:`, error));
  return worker;
}
