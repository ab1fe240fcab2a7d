import { createHash } from 'node:crypto';
import { DelayedError, Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import type { LagReading } from '../admission/lag-monitor.js';
import { ConfigError } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import { eventNameOf, type BrokerDurability, type EventConsumer, type EventEnvelope, type EventTransport } from './envelope.js';
import type { RetryOptions } from './memory-transport.js';
import { redactRedisUrl, redisOptionsFromUrl } from './redis-connection.js';

export interface BullMqTransportOptions {
  redisUrl: string;
  /** Namespaces every key, so several systems (or test runs) can share one Redis. */
  prefix: string;
  /**
   * Which handlers consume each event key (`name@version` → handler ids),
   * local or not. An event goes to the handlers of every version of its name:
   * each reads it at its own version (ADR 0014).
   */
  routes: ReadonlyMap<string, readonly string[]>;
  retry: RetryOptions;
  logger: Logger;
  /** Jobs a worker runs at once, per handler. */
  concurrency?: number;
  /** How long a worker's lock on a job lasts unless renewed: the wait before a crashed worker's job runs again. */
  lockDurationMs?: number;
  /**
   * Refuse to start (ConfigError) on a Redis known to keep no append-only
   * file: `Config.redisPersistenceRequired` (NODE_ENV=production without
   * REDIS_VOLATILE_OK=true). A Redis that will not say only gets a warning.
   */
  requirePersistence?: boolean;
  /** How old the persistence reading `durability()` returns may get before it is read again (30 s). */
  durabilityRefreshMs?: number;
}

export const DEFAULT_WORKER_CONCURRENCY = 16;
/** A process's lag readings older than this are ignored by the others (it stopped, or lost Redis). */
const LAG_READINGS_FRESH_MS = 5_000;
/** The creation time of the oldest job waiting in a queue (BullMQ keeps the list newest first). */
const OLDEST_WAITING_JOB = `local id = redis.call('LINDEX', KEYS[1], -1)
if not id then return false end
return redis.call('HGET', ARGV[1] .. id, 'timestamp')`;
const COMMAND_TIMEOUT_MS = 5_000;
const DEAD_LETTER_RETRY_MS = 5_000;
const DURABILITY_REFRESH_MS = 30_000;

function isUnreadable(error: unknown): boolean {
  return error instanceof AppError && error.code === 'KERNEL.EVENT_UNREADABLE';
}

/** A job's data: the events of one relay round for one handler (or, from older versions, one event). */
export type EventJobData = { envelopes: EventEnvelope[] } | EventEnvelope;

function envelopesOf(data: EventJobData): EventEnvelope[] {
  return 'envelopes' in data ? data.envelopes : [data];
}

/**
 * The job id of a batch: the same events for the same handler give the same id,
 * so re-publishing a batch after a crash adds nothing while the job is known;
 * any other composition is a new job, whose already handled events are inbox no-ops.
 */
function batchJobId(envelopes: readonly EventEnvelope[], handlerId: string): string {
  if (envelopes.length === 1) return `${envelopes[0]!.id}.${handlerId}`;
  const digest = createHash('sha256').update(envelopes.map((e) => e.id).join(',')).digest('hex').slice(0, 32);
  return `batch-${envelopes.length}-${digest}.${handlerId}`;
}

/**
 * The BullMQ transport: one queue per handler (`<prefix>:<module>.<handler>`).
 * `publish` adds one job per relay round and consuming handler, holding that
 * round's events for the handler, and resolves once Redis has stored them;
 * workers run the same consumers as the memory bus (inbox included, one
 * transaction for the events that arrive together). Retries stay per event:
 * a job whose events partly fail keeps only the failed ones and is retried by
 * BullMQ with exponential backoff; on the last attempt each still failing
 * event goes to the consumer's dead-letter table.
 *
 * @example
 * const transport = new BullMqTransport({ redisUrl, prefix: 'mmk', routes, retry, logger });
 */
export class BullMqTransport implements EventTransport {
  readonly name = 'bullmq';
  readonly #options: BullMqTransportOptions;
  readonly #queues = new Map<string, Queue>();
  /** The handlers of each event name, whatever the version they read. */
  readonly #routesByName = new Map<string, string[]>();
  readonly #consumers: EventConsumer[] = [];
  readonly #workers: Worker[] = [];
  readonly #client: Redis;
  /** This process in the shared lag readings: host, pid and a random part. */
  readonly #processKey = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  #durability: BrokerDurability = { persistence: 'unknown', warning: 'Redis persistence not read yet (the event bus has not started)' };
  #durabilityReadAt = 0;
  #durabilityReading: Promise<void> | undefined;

  constructor(options: BullMqTransportOptions) {
    this.#options = options;
    for (const [key, handlers] of options.routes) {
      const name = eventNameOf(key);
      this.#routesByName.set(name, [...new Set([...(this.#routesByName.get(name) ?? []), ...handlers])]);
    }
    // Producer side fails fast when Redis is away: events then simply wait in the outbox.
    this.#client = new Redis({ ...redisOptionsFromUrl(options.redisUrl), enableOfflineQueue: false, commandTimeout: COMMAND_TIMEOUT_MS, lazyConnect: true, maxRetriesPerRequest: 1 });
    this.#client.on('error', () => undefined);
  }

  subscribe(consumer: EventConsumer): void {
    this.#consumers.push(consumer);
  }

  #queue(handlerId: string): Queue {
    let queue = this.#queues.get(handlerId);
    if (!queue) {
      queue = new Queue(handlerId, { connection: this.#client, prefix: this.#options.prefix, skipWaitingForReady: true } as never);
      queue.on('error', (error) => this.#options.logger.warn({ err: error, queue: handlerId }, 'BullMQ queue error'));
      this.#queues.set(handlerId, queue);
    }
    return queue;
  }

  async publish(envelopes: readonly EventEnvelope[]): Promise<void> {
    const { maxAttempts, baseDelayMs } = this.#options.retry;
    const byHandler = new Map<string, EventEnvelope[]>();
    for (const envelope of envelopes) {
      for (const handlerId of this.#routesByName.get(envelope.name) ?? []) {
        const list = byHandler.get(handlerId) ?? [];
        list.push(envelope);
        byHandler.set(handlerId, list);
      }
    }
    await Promise.all(
      [...byHandler].map(([handlerId, list]) =>
        this.#queue(handlerId).add(list.length === 1 ? list[0]!.name : 'events', { envelopes: list } satisfies EventJobData, {
          jobId: batchJobId(list, handlerId),
          attempts: maxAttempts,
          backoff: { type: 'exponential', delay: baseDelayMs },
          removeOnComplete: { age: 3600, count: 10_000 },
          removeOnFail: { age: 24 * 3600 },
        }),
      ),
    );
  }

  async start(): Promise<void> {
    const where = redactRedisUrl(this.#options.redisUrl);
    try {
      await this.#client.connect();
      await this.#client.ping();
    } catch (error) {
      throw new AppError('UNAVAILABLE', 'KERNEL.REDIS_UNREACHABLE', `cannot reach Redis at ${where} (REDIS_URL): ${(error as Error).message}`);
    }
    await this.#checkEvictionPolicy(where);
    await this.#checkPersistence(where);
    for (const consumer of this.#consumers) this.#workers.push(this.#startWorker(consumer));
  }

  async #checkEvictionPolicy(where: string): Promise<void> {
    try {
      const reply = (await this.#client.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy !== 'noeviction') {
        this.#options.logger.warn({ redis: where, policy }, `Redis maxmemory-policy is "${policy}": set it to "noeviction", or Redis may drop queued events under memory pressure`);
      }
    } catch (error) {
      this.#options.logger.warn({ err: error, redis: where }, 'could not read Redis maxmemory-policy; make sure it is "noeviction"');
    }
  }

  /**
   * Reads whether Redis keeps an append-only file. Without one, a restart of
   * Redis loses every job waiting in it: events the relays already marked
   * published, whose consumers then never run (`events republish` hands them
   * over again). Checked before any worker starts, so a refusal runs nothing.
   */
  async #checkPersistence(where: string): Promise<void> {
    const durability = await this.#readDurability(where);
    this.#durability = durability;
    this.#durabilityReadAt = Date.now();
    if (durability.persistence === 'none' && this.#options.requirePersistence) {
      throw new ConfigError(
        `Redis at ${where} (REDIS_URL) keeps no append-only file (appendonly no), so a restart of Redis loses the events waiting in it, which NODE_ENV=production refuses: turn on appendonly yes, or set REDIS_VOLATILE_OK=true to accept the risk`,
      );
    }
    if (durability.warning) this.#options.logger.warn({ redis: where, persistence: durability.persistence }, durability.warning);
  }

  /** `aof`, `none`, or `unknown` when Redis refuses CONFIG (managed Redis, ACLs); a lost connection throws. */
  async #readDurability(where: string): Promise<BrokerDurability> {
    let reply: string[];
    try {
      reply = (await this.#client.config('GET', 'appendonly')) as string[];
    } catch (error) {
      if (!(error instanceof ReplyError)) throw error;
      return {
        persistence: 'unknown',
        warning: `cannot tell whether Redis at ${where} keeps an append-only file (CONFIG GET appendonly refused: ${(error as Error).message}); make sure it does (appendonly yes), or a restart of Redis loses the events waiting in it`,
      };
    }
    if (reply[1] === 'yes') return { persistence: 'aof' };
    if (reply[1] === 'no') {
      return {
        persistence: 'none',
        warning: `Redis at ${where} keeps no append-only file (appendonly no): if it restarts, the events waiting in it are lost and their handlers never run; turn on appendonly yes, or after such a loss run npm run events -- republish --since <time>`,
      };
    }
    return { persistence: 'unknown', warning: `cannot tell whether Redis at ${where} keeps an append-only file (CONFIG GET appendonly answered ${JSON.stringify(reply)}); make sure it does (appendonly yes)` };
  }

  /**
   * Redis persistence as last read: at start, then again in the background
   * when `/health` asks for a reading older than 30 s (so a Redis switched to
   * `appendonly yes` stops warning without a restart). A failed reading keeps
   * the last one: Redis being unreachable is `eventBus: down`, not a change of persistence.
   */
  durability(): BrokerDurability {
    if (this.#durabilityReadAt > 0 && Date.now() - this.#durabilityReadAt > (this.#options.durabilityRefreshMs ?? DURABILITY_REFRESH_MS) && !this.#durabilityReading) {
      this.#durabilityReading = this.#readDurability(redactRedisUrl(this.#options.redisUrl))
        .then((durability) => {
          this.#durability = durability;
          this.#durabilityReadAt = Date.now();
        })
        .catch(() => undefined)
        .finally(() => {
          this.#durabilityReading = undefined;
        });
    }
    return this.#durability;
  }

  #startWorker(consumer: EventConsumer): Worker {
    const { logger } = this.#options;
    const worker = new Worker(
      consumer.handlerId,
      async function deliverJob(job: Job<EventJobData>, token?: string) {
        const envelopes = envelopesOf(job.data);
        const results = await Promise.allSettled(envelopes.map((envelope) => consumer.handle(envelope)));
        const failed = results.flatMap((result, i) => (result.status === 'rejected' ? [{ envelope: envelopes[i]!, error: result.reason as unknown }] : []));
        if (failed.length === 0) return;
        const attempt = job.attemptsMade + 1;
        const lastAttempt = attempt >= (job.opts.attempts ?? 1);
        // A payload the handler cannot read will not become readable by retrying.
        const retry = failed.filter((f) => !lastAttempt && !isUnreadable(f.error));
        try {
          for (const f of failed) if (!retry.includes(f)) await consumer.deadLetter(f.envelope, f.error, attempt);
        } catch (error) {
          // The dead-letter store is unreachable too: keep the job and try again later rather than lose it.
          logger.error({ err: error, handler: consumer.handlerId, jobId: job.id, events: failed.length }, `storing dead letters failed; the job runs again in ${DEAD_LETTER_RETRY_MS} ms`);
          await job.moveToDelayed(Date.now() + DEAD_LETTER_RETRY_MS, token);
          throw new DelayedError();
        }
        if (retry.length === 0) return;
        // Only the failed events are retried (with BullMQ's backoff); the handled ones are done.
        if (retry.length < envelopes.length) await job.updateData({ envelopes: retry.map((f) => f.envelope) });
        const { error } = retry[0]!;
        throw error instanceof Error ? error : new Error(String(error));
      },
      {
        // Workers block on Redis: BullMQ requires maxRetriesPerRequest null on their connection.
        connection: { ...redisOptionsFromUrl(this.#options.redisUrl), maxRetriesPerRequest: null } as ConnectionOptions,
        prefix: this.#options.prefix,
        concurrency: this.#options.concurrency ?? DEFAULT_WORKER_CONCURRENCY,
        lockDuration: this.#options.lockDurationMs ?? 30_000,
        stalledInterval: Math.max(1_000, (this.#options.lockDurationMs ?? 30_000) / 2),
        maxStalledCount: 1_000,
      },
    );
    worker.on('error', (error) => this.#options.logger.warn({ err: error, handler: consumer.handlerId }, 'BullMQ worker error'));
    return worker;
  }

  async ping(): Promise<void> {
    await this.#client.ping();
  }

  /**
   * How long the oldest job of each handler's queue has been waiting, for
   * every handler of the system (the queues are shared, so any process can
   * see them). Jobs waiting to be retried are delayed, not waiting: they do
   * not count.
   */
  async queueLag(): Promise<LagReading[]> {
    const handlers = [...new Set([...this.#options.routes.values()].flat())];
    const pipeline = this.#client.pipeline();
    const { prefix } = this.#options;
    for (const handler of handlers) pipeline.eval(OLDEST_WAITING_JOB, 1, `${prefix}:${handler}:wait`, `${prefix}:${handler}:`);
    const results = (await pipeline.exec()) ?? [];
    const now = Date.now();
    return handlers.map((name, i) => {
      const [error, timestamp] = results[i] ?? [null, null];
      if (error) throw error;
      return { kind: 'handler' as const, name, lagMs: timestamp ? Math.max(0, now - Number(timestamp)) : 0 };
    });
  }

  /**
   * Publishes this process's lag readings under `<prefix>:lag` and returns
   * the fresh readings of the other processes (ADR 0009): how a process that
   * admits work learns how far behind the modules of other processes are.
   */
  async exchangeLag(local: readonly LagReading[]): Promise<LagReading[]> {
    const key = `${this.#options.prefix}:lag`;
    const now = Date.now();
    const results = await this.#client
      .pipeline()
      .hset(key, this.#processKey, JSON.stringify({ at: now, readings: local }))
      .pexpire(key, 60_000)
      .hgetall(key)
      .exec();
    const [error, all] = results?.[2] ?? [null, {}];
    if (error) throw error;
    const others: LagReading[] = [];
    const gone: string[] = [];
    for (const [field, value] of Object.entries((all ?? {}) as Record<string, string>)) {
      if (field === this.#processKey) continue;
      const entry = JSON.parse(value) as { at: number; readings: LagReading[] };
      if (now - entry.at <= LAG_READINGS_FRESH_MS) others.push(...entry.readings);
      else if (now - entry.at > 12 * LAG_READINGS_FRESH_MS) gone.push(field);
    }
    if (gone.length > 0) await this.#client.hdel(key, ...gone);
    return others;
  }

  async close(): Promise<void> {
    await this.#client.hdel(`${this.#options.prefix}:lag`, this.#processKey).catch(() => undefined); // else it ages out
    await Promise.all(this.#workers.map((worker) => worker.close()));
    await Promise.all([...this.#queues.values()].map((queue) => queue.close()));
    this.#client.disconnect();
  }
}
