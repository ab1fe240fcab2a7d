/**
 * `npm run bench:events`: how fast events move, on PostgreSQL + Redis, in one run.
 *
 *   (a) raw BullMQ: `Queue.addBulk` in batches of the relay's size and a Worker
 *       with a no-op processor, with the kit's concurrency and job options;
 *   (b) the kit on BullMQ: outbox → relay → BullMQ → worker → inbox, through a
 *       `bench` module that publishes `bench.Tick` and handles it with a no-op
 *       handler (which still runs in one transaction with its inbox insert);
 *   (c) the same module on the memory bus, same PostgreSQL.
 *
 * Each pipeline runs three measured phases after a warm-up: latency, throughput,
 * then latency again right after the throughput burst:
 *   - throughput: BENCH_EVENTS events committed as fast as BENCH_PRODUCERS producers
 *     can (transactions of BENCH_BATCH events); events/s from the first commit (or
 *     the first add, for raw BullMQ) to the last handled event;
 *   - latency: an open-loop steady rate (BENCH_RATE events/s for BENCH_RATE_SECONDS,
 *     one transaction every BENCH_TICK_MS), meant to be well under the saturation
 *     point, so the figure measures the pipeline rather than queueing. The latency
 *     of an event is the time from the return of the commit that wrote it (stamped
 *     by the bench) to the commit of its handler's inbox transaction (raw BullMQ:
 *     from the return of addBulk to the worker's `completed` event). Measured on
 *     an outbox holding the warm-up's rows, then again right after the burst,
 *     when the outbox holds BENCH_EVENTS more published rows that autovacuum has
 *     not cleaned yet (the relay's claim query then walks their dead index entries).
 *
 * The kit's pipelines then run two diagnostic phases (BENCH_SPLIT_EVENTS) and
 * every phase reports CPU time per event of this process, of the PostgreSQL
 * backends of the bench's database and of the Redis server, and how much CPU
 * other processes took meanwhile: on a shared machine the events/s move with the
 * neighbours, the CPU per event much less.
 *
 * Everything (producer, relay, workers, handlers) runs in this one process, as
 * the kit does; PostgreSQL and Redis share the machine.
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test);
 *                       the bench creates and drops its own databases next to it
 *   BENCH_REDIS_URL     Redis (default redis://127.0.0.1:6379); every key lives under
 *                       mmk-evbench-<pid>-<random>* and is deleted at the end
 *   BENCH_EVENTS        events of each throughput phase (default 20000)
 *   BENCH_BATCH         events per producer transaction / addBulk in the throughput phase (default: the relay's batch, 200)
 *   BENCH_PRODUCERS     concurrent producers in the throughput phase (default 2: one inserts while the other commits)
 *   BENCH_RATE          events/s of the latency phase (default 500)
 *   BENCH_RATE_SECONDS  length of the latency phase (default 5)
 *   BENCH_TICK_MS       one transaction every BENCH_TICK_MS in the latency phase (default 10)
 *   BENCH_WARMUP        warm-up events before each pipeline's phases (default 1000)
 *   BENCH_SPLIT_EVENTS  events of the two diagnostic phases of the kit's pipelines (default 5000; 0 skips them):
 *                       outbox writes alone with the relay off, then relay + transport + consumers alone
 *                       draining that backlog, each with its CPU time per event
 *   BENCH_ONLY          comma list of raw,bullmq,memory to run a subset (default all)
 *   BENCH_PUBLISH       how the kit's producer writes a transaction's events: "many" (default: one
 *                       `events.publishMany`, a single insert) or "one" (one `events.publish` per event)
 *   BENCH_RELAY_BATCH, BENCH_RELAY_POLL_MS  relay options passed to createApp (experiments)
 *   DATABASE_POOL_MAX, EVENT_WORKER_CONCURRENCY, EVENT_MAX_ATTEMPTS  passed to the kit's config as usual
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv } from './bench-env.js';
import { z } from 'zod';
import { consumes, createApp, defineEvent, defineModule, loadConfig, on, type App, type Config, type ModuleContext } from '../src/kernel/index.js';
import { DEFAULT_RELAY_BATCH_SIZE } from '../src/kernel/events/outbox-relay.js';
import { DEFAULT_RETRY } from '../src/kernel/events/memory-transport.js';
import { redisOptionsFromUrl } from '../src/kernel/events/redis-connection.js';

function optionalIntEnv(name: string): number | undefined {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? undefined : intEnv(name, 0);
}

const PIPELINES = ['raw', 'bullmq', 'memory'] as const;
type PipelineName = (typeof PIPELINES)[number];

function publishMode(): 'one' | 'many' {
  const mode = process.env.BENCH_PUBLISH || 'many';
  if (mode !== 'one' && mode !== 'many') throw new Error(`BENCH_PUBLISH: expected "one" or "many" (got "${mode}")`);
  return mode;
}

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  events: intEnv('BENCH_EVENTS', 20_000),
  batch: intEnv('BENCH_BATCH', DEFAULT_RELAY_BATCH_SIZE),
  producers: intEnv('BENCH_PRODUCERS', 2),
  rate: intEnv('BENCH_RATE', 500),
  rateSeconds: intEnv('BENCH_RATE_SECONDS', 5),
  tickMs: intEnv('BENCH_TICK_MS', 10),
  warmup: intEnv('BENCH_WARMUP', 1_000, 0),
  splitEvents: intEnv('BENCH_SPLIT_EVENTS', 5_000, 0),
  relayBatch: optionalIntEnv('BENCH_RELAY_BATCH'),
  relayPollMs: optionalIntEnv('BENCH_RELAY_POLL_MS'),
  publishOneByOne: publishMode() === 'one',
  only: (process.env.BENCH_ONLY || PIPELINES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '') as PipelineName[],
};
for (const name of settings.only) if (!PIPELINES.includes(name)) throw new Error(`BENCH_ONLY: unknown pipeline "${name}" (use ${PIPELINES.join(', ')})`);

const GOALS = { ratio: 0.5, memoryEventsPerSec: 5_000, p50Ms: 20, p99Ms: 100 };
const PHASE_TIMEOUT_MS = 120_000;
const RUN_ID = `${process.pid}-${randomBytes(3).toString('hex')}`;
const KEY_PREFIX = `mmk-evbench-${RUN_ID}`;

/** The kit's settings for one pipeline, as the bench passes them to loadConfig (experiment knobs included). */
function kitEnv(bus: 'bullmq' | 'memory', databaseUrl: string, prefix: string): Record<string, string | undefined> {
  return {
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    EVENT_BUS: bus,
    REDIS_URL: settings.redisUrl,
    EVENT_QUEUE_PREFIX: prefix,
    DATABASE_POOL_MAX: process.env.DATABASE_POOL_MAX,
    EVENT_WORKER_CONCURRENCY: process.env.EVENT_WORKER_CONCURRENCY,
    EVENT_MAX_ATTEMPTS: process.env.EVENT_MAX_ATTEMPTS,
  };
}

// ---------------------------------------------------------------------------
// Recording: when each event was committed (or added) and when it was handled.

class Recorder {
  readonly committedAt = new Map<string, number>();
  readonly handledAt = new Map<string, number>();
  firstCommit = Infinity;
  lastCommit = 0;
  #expected = Infinity;
  #done: (() => void) | undefined;

  reset(): void {
    this.committedAt.clear();
    this.handledAt.clear();
    this.firstCommit = Infinity;
    this.lastCommit = 0;
    this.#expected = Infinity;
    this.#done = undefined;
  }

  committed(ids: readonly string[]): void {
    const now = performance.now();
    for (const id of ids) this.committedAt.set(id, now);
    if (this.firstCommit === Infinity) this.firstCommit = now;
    this.lastCommit = now;
  }

  handled(id: string): void {
    if (this.handledAt.has(id)) return;
    this.handledAt.set(id, performance.now());
    if (this.handledAt.size >= this.#expected) this.#done?.();
  }

  /** Resolves once `count` distinct events have been handled. */
  async waitHandled(count: number, what: string): Promise<void> {
    if (this.handledAt.size >= count) return;
    this.#expected = count;
    const done = new Promise<void>((resolve) => (this.#done = resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: only ${this.handledAt.size} of ${count} events handled after ${PHASE_TIMEOUT_MS / 1000} s`)), PHASE_TIMEOUT_MS);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  lastHandled(): number {
    let last = 0;
    for (const t of this.handledAt.values()) if (t > last) last = t;
    return last;
  }

  latencies(): number[] {
    const out: number[] = [];
    for (const [id, handled] of this.handledAt) {
      const committed = this.committedAt.get(id);
      if (committed !== undefined) out.push(handled - committed);
    }
    return out.sort((a, b) => a - b);
  }
}

const recorder = new Recorder();

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------------------
// CPU accounting: on a shared 2-core machine the wall-clock rate depends on
// what else runs; the CPU time each part spends per event does much less.

interface CpuSnapshot {
  node: NodeJS.CpuUsage;
  /** utime + stime in clock ticks of each PostgreSQL backend connected to the bench's database. */
  pg: Map<number, number>;
  /** Redis server CPU seconds (the whole server: other users of the shared Redis count too). */
  redis: number;
  /** Busy clock ticks of the whole machine (/proc/stat), to tell how much else ran meanwhile. */
  machineTicks: number;
}

interface CpuPerEvent {
  nodeUs: number;
  /** Of nodeUs, the part spent in the kernel (socket writes and reads, mostly). */
  nodeSystemUs: number;
  pgUs: number;
  redisUs: number;
  /** (node + PostgreSQL + Redis CPU) / wall time, in cores. */
  cores: number;
  /** CPU the rest of the machine used meanwhile, in cores (PostgreSQL's own background processes included). */
  otherCores: number;
}

const CLOCK_TICKS_PER_SEC = 100;

function procTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function machineBusyTicks(): number {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const ticks = fields.map(Number);
    // user nice system idle iowait irq softirq steal: busy = user + nice + system + irq + softirq
    // (steal is the hypervisor's, guest time is already in user).
    return ticks[0]! + ticks[1]! + ticks[2]! + ticks[5]! + ticks[6]!;
  } catch {
    return NaN;
  }
}

async function cpuSnapshot(redis: Redis, dbName: string | undefined): Promise<CpuSnapshot> {
  const pg = new Map<number, number>();
  if (dbName) {
    const pids = await admin(async (c) => (await c.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [dbName])).rows);
    for (const { pid } of pids) {
      const ticks = procTicks(pid);
      if (ticks !== undefined) pg.set(pid, ticks);
    }
  }
  const info = await redis.info('cpu');
  const cpu = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return { node: process.cpuUsage(), pg, redis: cpu('used_cpu_user') + cpu('used_cpu_sys'), machineTicks: machineBusyTicks() };
}

function cpuPerEvent(before: CpuSnapshot, after: CpuSnapshot, events: number, wallMs: number): CpuPerEvent {
  const node = { user: after.node.user - before.node.user, system: after.node.system - before.node.system };
  const nodeUs = node.user + node.system;
  let pgTicks = 0;
  for (const [pid, ticks] of after.pg) pgTicks += ticks - (before.pg.get(pid) ?? 0);
  const pgUs = (pgTicks * 1e6) / CLOCK_TICKS_PER_SEC;
  const redisUs = (after.redis - before.redis) * 1e6;
  const machineUs = ((after.machineTicks - before.machineTicks) * 1e6) / CLOCK_TICKS_PER_SEC;
  return {
    nodeUs: nodeUs / events,
    nodeSystemUs: node.system / events,
    pgUs: pgUs / events,
    redisUs: redisUs / events,
    cores: (nodeUs + pgUs + redisUs) / 1000 / wallMs,
    otherCores: Math.max(0, machineUs - nodeUs - pgUs - redisUs) / 1000 / wallMs,
  };
}

// ---------------------------------------------------------------------------
// The phases, whatever carries the events. A producer commits a batch and
// returns the ids it committed.

type Produce = (size: number) => Promise<string[]>;

interface ThroughputResult {
  events: number;
  seconds: number;
  eventsPerSec: number;
  /** Rate at which the producer committed (first to last commit). */
  commitPerSec: number;
  /** Latency under saturation: mostly queueing. */
  p50: number;
  p99: number;
  cpu: CpuPerEvent;
}

interface LatencyResult {
  events: number;
  targetRate: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  cpu: CpuPerEvent;
}

async function warmUp(label: string, produce: Produce, events: number): Promise<void> {
  if (events === 0) return;
  recorder.reset();
  let sent = 0;
  while (sent < events) {
    const size = Math.min(settings.batch, events - sent);
    recorder.committed(await produce(size));
    sent += size;
  }
  await recorder.waitHandled(events, `${label} warm-up`);
}

async function throughputPhase(label: string, produce: Produce, addStartsClock: boolean, producers: number, cpu: () => Promise<CpuSnapshot>): Promise<ThroughputResult> {
  recorder.reset();
  const { events, batch } = settings;
  const cpuBefore = await cpu();
  const started = performance.now();
  let sent = 0;
  // Producers commit concurrently, each taking the next batch until N are committed.
  const producer = async () => {
    while (sent < events) {
      const size = Math.min(batch, events - sent);
      sent += size;
      recorder.committed(await produce(size));
    }
  };
  await Promise.all(Array.from({ length: producers }, producer));
  await recorder.waitHandled(events, `${label} throughput`);
  const cpuAfter = await cpu();
  const start = addStartsClock ? started : recorder.firstCommit;
  const seconds = (recorder.lastHandled() - start) / 1000;
  const commitSeconds = (recorder.lastCommit - start) / 1000;
  const lat = recorder.latencies();
  return {
    events,
    seconds,
    eventsPerSec: events / seconds,
    commitPerSec: events / commitSeconds,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    cpu: cpuPerEvent(cpuBefore, cpuAfter, events, recorder.lastHandled() - started),
  };
}

async function latencyPhase(label: string, produce: Produce, cpu: () => Promise<CpuSnapshot>): Promise<LatencyResult> {
  recorder.reset();
  const cpuBefore = await cpu();
  const { rate, rateSeconds, tickMs } = settings;
  const ticks = Math.round((rateSeconds * 1000) / tickMs);
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  // Open loop: the schedule does not wait for slow commits, like independent requests would not.
  for (let k = 0; k < ticks; k += 1) {
    const wait = start + k * tickMs - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(produce(perTick).then((ids) => recorder.committed(ids)));
  }
  await Promise.all(inFlight);
  const events = ticks * perTick;
  await recorder.waitHandled(events, `${label} latency`);
  const cpuAfter = await cpu();
  const lat = recorder.latencies();
  return {
    events,
    targetRate: (perTick * 1000) / tickMs,
    achievedRate: events / ((recorder.lastHandled() - recorder.firstCommit) / 1000),
    p50: percentile(lat, 50),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
    cpu: cpuPerEvent(cpuBefore, cpuAfter, events, recorder.lastHandled() - start),
  };
}

interface PipelineResult {
  throughput: ThroughputResult;
  /** At a steady rate, after the warm-up (an outbox of ~BENCH_WARMUP published rows). */
  latency: LatencyResult;
  /** The same again right after the throughput burst (BENCH_EVENTS more published, not yet vacuumed, outbox rows). */
  latencyAfterBurst: LatencyResult;
  /** The kit's pipeline in two halves: outbox writes with the relay off, then draining that backlog. */
  split?: { publishPerSec: number; drainPerSec: number; publishCpu: CpuPerEvent; drainCpu: CpuPerEvent };
}

// ---------------------------------------------------------------------------
// (a) raw BullMQ.

async function runRawBullMq(config: Config, redis: Redis): Promise<PipelineResult> {
  const prefix = `${KEY_PREFIX}-raw`;
  const queueName = 'raw.noop';
  const base = redisOptionsFromUrl(settings.redisUrl);
  // Same client settings as the kit's producer side (bullmq-transport.ts).
  const client = new Redis({ ...base, enableOfflineQueue: false, commandTimeout: 5_000, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  await client.connect();
  const queue = new Queue(queueName, { connection: client, prefix, skipWaitingForReady: true } as never);
  const worker = new Worker(queueName, async () => undefined, {
    connection: { ...base, maxRetriesPerRequest: null } as ConnectionOptions,
    prefix,
    concurrency: config.eventWorkerConcurrency,
    lockDuration: config.eventLockMs,
    stalledInterval: Math.max(1_000, config.eventLockMs / 2),
    maxStalledCount: 1_000,
  });
  worker.on('completed', (job) => recorder.handled((job.data as { id: string }).id));
  worker.on('error', (error) => console.error('raw worker error:', error));
  try {
    await worker.waitUntilReady();
    let n = 0;
    const produce: Produce = async (size) => {
      const jobs = [];
      for (let i = 0; i < size; i += 1) {
        const id = randomUUID();
        // An envelope like the kit's, so both serialize the same amount of data.
        const data = { id, name: 'bench.Tick', version: 1, source: 'bench', payload: { n: n++ }, correlationId: id, occurredAt: new Date().toISOString() };
        jobs.push({
          name: data.name,
          data,
          // The kit's job options (bullmq-transport.ts publish()).
          opts: {
            jobId: `${id}.bench.noop`,
            attempts: config.eventMaxAttempts,
            backoff: { type: 'exponential', delay: DEFAULT_RETRY.baseDelayMs },
            removeOnComplete: { age: 3600, count: 10_000 },
            removeOnFail: { age: 24 * 3600 },
          },
        });
      }
      await queue.addBulk(jobs);
      return jobs.map((j) => j.data.id);
    };
    await warmUp('raw BullMQ', produce, settings.warmup);
    // One adder at a time, like the relay's rounds.
    const cpu = () => cpuSnapshot(redis, undefined);
    const latency = await latencyPhase('raw BullMQ', produce, cpu);
    const throughput = await throughputPhase('raw BullMQ', produce, true, 1, cpu);
    const latencyAfterBurst = await latencyPhase('raw BullMQ', produce, cpu);
    return { throughput, latency, latencyAfterBurst };
  } finally {
    await worker.close();
    await queue.close();
    client.disconnect();
  }
}

// ---------------------------------------------------------------------------
// (b), (c) the kit: a module that publishes bench.Tick and handles it.

const Tick = defineEvent('bench.Tick', 1, z.object({ n: z.number().int() }));
const TickIn = consumes('bench.Tick', 1, z.object({ n: z.number().int() }));

function benchModule(onContext: (ctx: ModuleContext) => void) {
  return defineModule({
    name: 'bench',
    events: [Tick],
    dependsOn: [],
    migrationsDir: 'migrations/__none__',
    setup: (ctx) => {
      onContext(ctx);
      return {
        handlers: [
          on(TickIn, 'noop', async (_payload, { trx, envelope }) => {
            // Handled = the inbox transaction committed.
            trx.executionPromise.then(
              () => recorder.handled(envelope.id),
              () => undefined,
            );
          }),
        ],
      };
    },
  });
}

/** Runs `fn` against a started app of the bench module; the producer writes through the module's own ctx. */
async function withKitApp<T>(bus: 'bullmq' | 'memory', databaseUrl: string, relayOn: boolean, fn: (produce: Produce) => Promise<T>): Promise<T> {
  const config = loadConfig({ ...kitEnv(bus, databaseUrl, `${KEY_PREFIX}-kit`), EVENT_RELAY: relayOn ? 'on' : 'off' });
  let ctx: ModuleContext | undefined;
  const relay: { batchSize?: number; pollMs?: number } = {};
  if (settings.relayBatch !== undefined) relay.batchSize = settings.relayBatch;
  if (settings.relayPollMs !== undefined) relay.pollMs = settings.relayPollMs;
  const app: App = await createApp({ modules: [benchModule((c) => (ctx = c))], config, relay });
  try {
    await app.start();
    const module = ctx!;
    let n = 0;
    const produce: Produce = async (size) =>
      module.db.transaction((trx) =>
        settings.publishOneByOne
          ? (async () => {
              const ids: string[] = [];
              for (let i = 0; i < size; i += 1) ids.push(await module.events.publish(trx, Tick, { n: n++ }));
              return ids;
            })()
          : module.events.publishMany(trx, Tick, Array.from({ length: size }, () => ({ n: n++ }))),
      );
    return await fn(produce);
  } finally {
    await app.stop();
  }
}

async function runKit(bus: 'bullmq' | 'memory', databaseUrl: string, redis: Redis): Promise<PipelineResult> {
  const dbName = new URL(databaseUrl).pathname.slice(1);
  const label = `kit (${bus})`;
  // The measured pipeline: producers, relay and consumers at once.
  const measured = await withKitApp(bus, databaseUrl, true, async (produce) => {
    await warmUp(label, produce, settings.warmup);
    const cpu = () => cpuSnapshot(redis, dbName);
    const latency = await latencyPhase(label, produce, cpu);
    const throughput = await throughputPhase(label, produce, false, settings.producers, cpu);
    const latencyAfterBurst = await latencyPhase(label, produce, cpu);
    return { throughput, latency, latencyAfterBurst };
  });
  const splitEvents = settings.splitEvents;
  if (splitEvents === 0) return measured;
  // Where the time goes: the outbox writes alone (relay off), then the relay and consumers alone on that backlog.
  recorder.reset();
  let publishStart = 0;
  let publishCpu: CpuPerEvent | undefined;
  await withKitApp(bus, databaseUrl, false, async (produce) => {
    await produce(1); // opens a connection, so the CPU snapshot sees its backend
    recorder.reset();
    const before = await cpuSnapshot(redis, dbName);
    publishStart = performance.now();
    let sent = 0;
    const producer = async () => {
      while (sent < splitEvents) {
        const size = Math.min(settings.batch, splitEvents - sent);
        sent += size;
        recorder.committed(await produce(size));
      }
    };
    await Promise.all(Array.from({ length: settings.producers }, producer));
    publishCpu = cpuPerEvent(before, await cpuSnapshot(redis, dbName), splitEvents, recorder.lastCommit - publishStart);
  });
  const publishPerSec = splitEvents / ((recorder.lastCommit - publishStart) / 1000);
  let drainStart = 0;
  let drainCpu: CpuPerEvent | undefined;
  await withKitApp(bus, databaseUrl, true, async () => {
    drainStart = performance.now();
    // The relay started inside app.start(), a little earlier: the first instants of the drain are missed by the CPU figures.
    const before = await cpuSnapshot(redis, dbName);
    await recorder.waitHandled(splitEvents + 1, `${label} backlog`); // + the connection opener
    drainCpu = cpuPerEvent(before, await cpuSnapshot(redis, dbName), splitEvents, recorder.lastHandled() - drainStart);
  });
  const drainPerSec = splitEvents / ((recorder.lastHandled() - drainStart) / 1000);
  return { ...measured, split: { publishPerSec, drainPerSec, publishCpu: publishCpu!, drainCpu: drainCpu! } };
}

// ---------------------------------------------------------------------------
// Databases, Redis keys, versions.

function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withAdminClient(settings.baseUrl, fn);
}

const createdDatabases: string[] = [];

async function createDatabase(tag: string): Promise<string> {
  const name = `mmk_evbench_${tag}_${RUN_ID.replace('-', '_')}`;
  await admin((c) => c.query(`create database "${name}"`));
  createdDatabases.push(name);
  return withDatabase(settings.baseUrl, name);
}

async function dropDatabases(): Promise<void> {
  for (const name of createdDatabases.splice(0)) {
    await admin((c) => c.query(`drop database if exists "${name}" with (force)`)).catch((error: unknown) =>
      console.error(`could not drop database ${name}:`, error),
    );
  }
  // The module role is cluster-wide; dropping it fails (harmlessly) while another database still grants it something.
  await admin((c) => c.query('drop role if exists mmk_module_bench')).catch(() => undefined);
}

async function dropRedisKeys(): Promise<number> {
  const redis = new Redis(settings.redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${KEY_PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

async function versions(): Promise<{ postgres: string; redis: string }> {
  const postgres = await admin(async (c) => (await c.query<{ server_version: string }>('show server_version')).rows[0]!.server_version);
  const redis = new Redis(settings.redisUrl);
  try {
    const info = await redis.info('server');
    return { postgres, redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' };
  } finally {
    redis.disconnect();
  }
}

/** Processes other than this one using a noticeable share of the CPU right now (top's second sample). */
function cpuHogs(): string {
  try {
    const out = execFileSync('top', ['-bn2', '-d', '0.5', '-w', '200'], { encoding: 'utf8' });
    const frame = out.slice(out.lastIndexOf('PID USER'));
    return frame
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length >= 12 && cols[0] !== String(process.pid) && Number(cols[8]) >= 20)
      .map((cols) => `${cols.slice(11).join(' ')}(${cols[0]}) ${cols[8]}%`)
      .join(', ');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------
// Output.

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const ms = (n: number) => `${fmt(n, 1)} ms`;

function printPipeline(title: string, r: PipelineResult, commitNote: boolean): void {
  const t = r.throughput;
  console.log(title);
  const latencyLine = (what: string, l: LatencyResult) =>
    console.log(
      `  ${what} at ${fmt(l.targetRate)} events/s for ${settings.rateSeconds} s (${fmt(l.events)} events, ${fmt(l.achievedRate)} events/s delivered):` +
        ` p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}, max ${ms(l.max)}` +
        ` (${fmt(l.cpu.cores, 2)} cores busy with this pipeline, other processes ${fmt(l.cpu.otherCores, 2)} cores)`,
    );
  latencyLine('latency', r.latency);
  console.log(
    `  throughput: ${fmt(t.events)} events in ${fmt(t.seconds, 2)} s = ${fmt(t.eventsPerSec)} events/s` +
      `  (${commitNote ? 'committed' : 'added'} at ${fmt(t.commitPerSec)} events/s; latency at saturation p50 ${ms(t.p50)}, p99 ${ms(t.p99)})`,
  );
  latencyLine('latency right after that burst', r.latencyAfterBurst);
  console.log(`  CPU per event, throughput phase: ${cpuLine(t.cpu)}`);
  if (r.split) {
    console.log(`  split 1, ${fmt(settings.splitEvents)} outbox writes alone (relay off, ${settings.producers} producers): ${fmt(r.split.publishPerSec)} events/s; CPU per event: ${cpuLine(r.split.publishCpu)}`);
    console.log(`  split 2, relay + transport + consumers alone on that backlog of ${fmt(settings.splitEvents)}: ${fmt(r.split.drainPerSec)} events/s; CPU per event: ${cpuLine(r.split.drainCpu)}`);
  }
}

function cpuLine(c: CpuPerEvent): string {
  const total = c.nodeUs + c.pgUs + c.redisUs;
  return (
    `node ${fmt(c.nodeUs)} µs (${fmt(c.nodeSystemUs)} in the kernel), PostgreSQL ${fmt(c.pgUs)} µs, Redis ${fmt(c.redisUs)} µs` +
    ` = ${fmt(total)} µs (${fmt(1e6 / total)} events per CPU-second; ${fmt(c.cores, 2)} cores busy; other processes ${fmt(c.otherCores, 2)} cores)`
  );
}

async function runPipelines(probeConfig: Config): Promise<Partial<Record<PipelineName, PipelineResult>>> {
  const results: Partial<Record<PipelineName, PipelineResult>> = {};
  const redis = new Redis(settings.redisUrl);
  try {
    if (settings.only.includes('raw')) {
      results.raw = await runRawBullMq(probeConfig, redis);
      printPipeline(`(a) raw BullMQ (addBulk ${settings.batch}, worker concurrency ${probeConfig.eventWorkerConcurrency}, no-op processor)`, results.raw, false);
    }
    if (settings.only.includes('bullmq')) {
      results.bullmq = await runKit('bullmq', await createDatabase('bullmq'), redis);
      printPipeline('(b) kit on BullMQ (outbox → relay → BullMQ → worker → inbox transaction)', results.bullmq, true);
    }
    if (settings.only.includes('memory')) {
      results.memory = await runKit('memory', await createDatabase('memory'), redis);
      printPipeline('(c) kit on the memory bus (outbox → relay → eventemitter2 → inbox transaction)', results.memory, true);
    }
    return results;
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const v = await versions();
  const probeConfig = loadConfig(kitEnv('bullmq', withDatabase(settings.baseUrl, 'x'), 'x'));
  const hogs = cpuHogs();
  console.log(
    `events bench: ${fmt(settings.events)} events per throughput phase in transactions of ${settings.batch} events from ${settings.producers} concurrent producers (raw BullMQ: sequential addBulk of ${settings.batch}); ` +
      `latency phase ${fmt(settings.rate)} events/s for ${settings.rateSeconds} s (one transaction every ${settings.tickMs} ms); warm-up ${fmt(settings.warmup)} events`,
  );
  console.log(
    `  node ${process.version}, ${availableParallelism()} cores, PostgreSQL ${v.postgres}, Redis ${v.redis}, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}` +
      (hogs ? `\n  WARNING: other processes busy on the CPU: ${hogs}` : ''),
  );
  console.log(
    `  kit: DATABASE_POOL_MAX ${probeConfig.databasePoolMax}, EVENT_WORKER_CONCURRENCY ${probeConfig.eventWorkerConcurrency}, ` +
      `relay batch ${settings.relayBatch ?? DEFAULT_RELAY_BATCH_SIZE}, poll ${settings.relayPollMs ?? probeConfig.eventRelayPollMs} ms, ` +
      `EVENT_MAX_ATTEMPTS ${probeConfig.eventMaxAttempts}, module roles on; Redis keys under ${KEY_PREFIX}*\n` +
      `  kit producer: ${settings.publishOneByOne ? 'one events.publish (one insert) per event' : 'one events.publishMany (one insert) per transaction'} (BENCH_PUBLISH)\n`,
  );

  const results = await runPipelines(probeConfig);

  const ratio = results.raw && results.bullmq ? results.bullmq.throughput.eventsPerSec / results.raw.throughput.eventsPerSec : NaN;
  console.log(`\nratio (b)/(a) throughput: ${fmt(ratio, 2)}`);

  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not run' : ok ? 'met' : 'MISSED');
  const rows: Array<[string, string, string, string]> = [];
  rows.push(['(b) >= 0.5 × (a) throughput', `>= ${GOALS.ratio}`, fmt(ratio, 2), verdict(Number.isNaN(ratio) ? undefined : ratio >= GOALS.ratio)]);
  if (results.memory) {
    const m = results.memory.throughput.eventsPerSec;
    rows.push(['memory bus throughput', `>= ${fmt(GOALS.memoryEventsPerSec)} events/s`, `${fmt(m)} events/s`, verdict(m >= GOALS.memoryEventsPerSec)]);
  }
  for (const [name, r] of [['BullMQ', results.bullmq], ['memory', results.memory]] as const) {
    if (!r) continue;
    for (const [when, l] of [['', r.latency], [' after burst', r.latencyAfterBurst]] as const) {
      rows.push([`latency p50, ${name}, ${fmt(l.targetRate)} events/s${when}`, `<= ${GOALS.p50Ms} ms`, ms(l.p50), verdict(l.p50 <= GOALS.p50Ms)]);
      rows.push([`latency p99, ${name}, ${fmt(l.targetRate)} events/s${when}`, `<= ${GOALS.p99Ms} ms`, ms(l.p99), verdict(l.p99 <= GOALS.p99Ms)]);
    }
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[['goal', 'target', 'measured', 'verdict'], ...rows].map((row) => row[i]!.length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(['goal', 'target', 'measured', 'verdict']));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  const others = Object.values(results).flatMap((r) => [r.throughput.cpu.otherCores, r.latency.cpu.otherCores, r.latencyAfterBurst.cpu.otherCores, ...(r.split ? [r.split.publishCpu.otherCores, r.split.drainCpu.otherCores] : [])]);
  const maxOther = Math.max(0, ...others);
  if (maxOther > 0.2) console.log(`\nWARNING: other processes used up to ${fmt(maxOther, 2)} cores during a phase: the events/s and latencies above are lower than on a quiet machine (the CPU per event much less so).`);
  const hogsAfter = cpuHogs();
  console.log(`\nload average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')}${hogsAfter ? `; other busy processes: ${hogsAfter}` : ''}`);
}

let exitCode = 0;
try {
  await main();
} catch (error) {
  console.error('events bench failed:', error);
  exitCode = 1;
} finally {
  await dropDatabases();
  const deleted = await dropRedisKeys().catch((error: unknown) => {
    console.error('could not delete the Redis keys:', error);
    exitCode = 1;
    return 0;
  });
  console.log(`cleaned up: databases dropped, ${deleted} Redis keys deleted`);
}
process.exit(exitCode);
