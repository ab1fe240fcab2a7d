/**
 * `npm run bench:events`: what the kit's event pipeline costs, against the same
 * durable work written by hand, on PostgreSQL + Redis.
 *
 * Pipelines (BENCH_ONLY picks some; each run is a fresh child process, see events-child.ts):
 *   raw          BullMQ alone with the kit's batches: a "commit" adds one job per relay-sized
 *                batch, a no-op processor; no database. The ceiling, not a baseline.
 *   hand-bullmq  the baseline: the kit's durable work written by hand (events-hand-pipeline.ts):
 *                outbox insert in the producer's transaction, a relay (claim with skip locked,
 *                one BullMQ job per round, mark published), a worker running one transaction per
 *                job (multi-row inbox insert, a no-op handler per fresh event).
 *   kit-bullmq   the kit doing that work: createApp, a module that publishes and handles bench.Tick.
 *   hand-memory  the hand-written relay handing each round to the inbox transaction by a function call.
 *   kit-memory   the kit on the memory bus.
 * All of them get the same producers (BENCH_PRODUCERS concurrent, transactions of BENCH_BATCH
 * events), the same relay batch, poll, lease, pool size, worker concurrency and job options (the
 * kit's), and the same clock: events/s from the first commit to the last handled event
 * (handled = the handler's inbox transaction committed; raw: the processor ran).
 *
 * Each run: a warm-up, then latency (an open-loop BENCH_RATE for BENCH_RATE_SECONDS), throughput
 * (BENCH_EVENTS as fast as the producers commit), latency again right after that burst, then for
 * the pipelines with an outbox two diagnostic phases (BENCH_SPLIT_EVENTS outbox writes with the
 * relay off, then the relay draining them). Every phase reports CPU time per event of the
 * pipeline's Node process, of the PostgreSQL backends of its database and of the Redis server.
 *
 * Rounds: every round runs each selected pipeline once (in reverse order every other round); a
 * ratio is the median of the rounds' ratios. Goals (exit code 2 when one is missed, 1 on error):
 * the kit at least 0.7× the hand-written baseline on each transport, the memory bus at least
 * 5,000 events/s, the kit's latency at BENCH_RATE p50 <= 20 ms and p99 <= 100 ms.
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test); every
 *                       run gets a fresh database mmk_evbench_* next to it, dropped after the run
 *   BENCH_REDIS_URL     Redis (default redis://127.0.0.1:6379); every key lives under
 *                       mmk-evbench-<pid>-<random>* and is deleted after each run
 *   BENCH_ONLY          comma list of pipelines, or bullmq / memory / hand / kit (default all)
 *   BENCH_ROUNDS        rounds (default 3)
 *   BENCH_EVENTS        events of each throughput phase (default 20000)
 *   BENCH_BATCH         events per producer transaction (default: the relay's batch, 200)
 *   BENCH_PRODUCERS     concurrent producers in the throughput phase (default 2: one inserts while the other commits)
 *   BENCH_RATE          events/s of the latency phases (default 500)
 *   BENCH_RATE_SECONDS  length of each latency phase (default 5)
 *   BENCH_TICK_MS       one transaction every BENCH_TICK_MS in the latency phases (default 10)
 *   BENCH_WARMUP        warm-up events (default 1000)
 *   BENCH_SPLIT_EVENTS  events of the two diagnostic phases (default 5000; 0 skips them)
 *   BENCH_PUBLISH       "many" (default: one insert per producer transaction; the kit's publishMany)
 *                       or "one" (one insert per event; the kit's publish)
 *   BENCH_RELAY_BATCH, BENCH_RELAY_POLL_MS  relay settings of every pipeline (experiments)
 *   BENCH_KIT_NODE_ENV  NODE_ENV of the kit (default production, as deployed; empty: unset, the
 *                       development default, with the nesting check's AsyncLocalStorage on)
 *   BENCH_NODE_ARGS     extra node flags for the pipelines' processes, e.g. --trace-gc
 *   BENCH_PROFILE_DIR   a folder: each run writes a V8 CPU profile of its throughput phase there
 *                       (mmk-evbench-<run>-<pipeline>_<round>-throughput.cpuprofile; Chrome DevTools opens it)
 *   DATABASE_POOL_MAX, DATABASE_MODULE_ROLES, DATABASE_NESTING_CHECK, EVENT_WORKER_CONCURRENCY,
 *   EVENT_MAX_ATTEMPTS, EVENT_LOCK_MS   the kit's settings as usual; the hand-written and raw
 *                       pipelines copy the pool size, concurrency, attempts and lock
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../src/kernel/index.js';
import { DEFAULT_RELAY_BATCH_SIZE } from '../src/kernel/events/outbox-relay.js';
import { DEFAULT_RETRY } from '../src/kernel/events/memory-transport.js';
import { busyProcesses } from './cpu-usage.js';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv } from './bench-env.js';
import { kitSettings, PIPELINE_GROUPS, PIPELINES, type ChildMessage, type DeliverySettings, type EventsJob, type PhaseSettings, type PipelineName, type PipelineResult } from './events-job.js';
import { fmt, median, table } from './bench-format.js';
import { printRun, summarize, summaryTable, type PipelineSummary } from './events-report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOALS = { kitVsHand: 0.7, memoryEventsPerSec: 5_000, p50Ms: 20, p99Ms: 100 };
const CHILD_TIMEOUT_MS = 15 * 60_000;
const RUN_ID = `${process.pid}-${randomBytes(3).toString('hex')}`;
const KEY_PREFIX = `mmk-evbench-${RUN_ID}`;

function optionalIntEnv(name: string): number | undefined {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? undefined : intEnv(name, 0);
}

function selectedPipelines(): PipelineName[] {
  const names = (process.env.BENCH_ONLY || PIPELINES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const chosen = new Set<PipelineName>();
  for (const name of names) {
    const group = PIPELINE_GROUPS[name] ?? (PIPELINES.includes(name as PipelineName) ? [name as PipelineName] : undefined);
    if (!group) throw new Error(`BENCH_ONLY: unknown pipeline "${name}" (use ${[...PIPELINES, ...Object.keys(PIPELINE_GROUPS)].join(', ')})`);
    for (const p of group) chosen.add(p);
  }
  return PIPELINES.filter((p) => chosen.has(p));
}

function publishMode(): boolean {
  const mode = process.env.BENCH_PUBLISH || 'many';
  if (mode !== 'one' && mode !== 'many') throw new Error(`BENCH_PUBLISH: expected "one" or "many" (got "${mode}")`);
  return mode === 'one';
}

const relayBatch = optionalIntEnv('BENCH_RELAY_BATCH') ?? DEFAULT_RELAY_BATCH_SIZE;
const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  pipelines: selectedPipelines(),
  rounds: intEnv('BENCH_ROUNDS', 3),
  publishOneByOne: publishMode(),
  nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  profileDir: process.env.BENCH_PROFILE_DIR ? resolve(process.env.BENCH_PROFILE_DIR) : undefined,
  phases: {
    events: intEnv('BENCH_EVENTS', 20_000),
    batch: intEnv('BENCH_BATCH', relayBatch),
    producers: intEnv('BENCH_PRODUCERS', 2),
    rate: intEnv('BENCH_RATE', 500),
    rateSeconds: intEnv('BENCH_RATE_SECONDS', 5),
    tickMs: intEnv('BENCH_TICK_MS', 10),
    warmup: intEnv('BENCH_WARMUP', 1_000, 0),
    splitEvents: intEnv('BENCH_SPLIT_EVENTS', 5_000, 0),
  } satisfies PhaseSettings,
  kitEnv: kitSettings(process.env),
};

/** The kit's delivery settings, which every pipeline copies. */
function deliverySettings(): DeliverySettings {
  const config = loadConfig({ ...settings.kitEnv, DATABASE_URL: settings.baseUrl, EVENT_BUS: 'bullmq' });
  return {
    relayBatch,
    relayPollMs: optionalIntEnv('BENCH_RELAY_POLL_MS') ?? config.eventRelayPollMs,
    relayLeaseMs: config.eventClaimLeaseMs,
    poolMax: config.databasePoolMax,
    workerConcurrency: config.eventWorkerConcurrency,
    lockMs: config.eventLockMs,
    maxAttempts: config.eventMaxAttempts,
    retryBaseDelayMs: DEFAULT_RETRY.baseDelayMs,
  };
}

// ---------------------------------------------------------------------------
// Databases, Redis keys, the child of the moment; all cleaned up on any exit.

function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withAdminClient(settings.baseUrl, fn);
}

const liveDatabases = new Set<string>();
let liveChild: ChildProcess | undefined;

async function dropDatabase(name: string): Promise<void> {
  await admin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(
    () => liveDatabases.delete(name),
    (error: unknown) => console.error(`could not drop database ${name}:`, error),
  );
}

async function deleteRedisKeys(prefix: string): Promise<number> {
  const redis = new Redis(settings.redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

async function cleanUp(): Promise<boolean> {
  let ok = true;
  if (liveChild && liveChild.exitCode === null && liveChild.signalCode === null) {
    const child = liveChild;
    await new Promise<void>((done) => {
      child.once('exit', () => done());
      child.kill('SIGKILL');
    });
  }
  for (const name of [...liveDatabases]) await dropDatabase(name);
  // The kit's module role is cluster-wide; dropping it fails (harmlessly) while another database still grants it something.
  await admin((c) => c.query('drop role if exists mmk_module_bench')).catch(() => undefined);
  const deleted = await deleteRedisKeys(KEY_PREFIX).catch((error: unknown) => {
    console.error('could not delete the Redis keys:', error);
    ok = false;
    return 0;
  });
  console.log(`cleaned up: ${liveDatabases.size === 0 ? 'every database dropped' : `databases LEFT: ${[...liveDatabases].join(', ')}`}, ${deleted} Redis keys left over deleted`);
  return ok && liveDatabases.size === 0;
}

// ---------------------------------------------------------------------------
// One run of one pipeline, in a child process.

function waitForChild(child: ChildProcess, name: PipelineName): Promise<PipelineResult> {
  return new Promise((resolve, reject) => {
    let message: ChildMessage | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('message', (m: ChildMessage) => (message = m));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (message?.type === 'result') resolve(message.result);
      else reject(new Error(`${name} failed (exit code ${code}, signal ${signal})${message?.type === 'error' ? `:\n${message.message}` : ''}`));
    });
  });
}

async function runPipeline(name: PipelineName, round: number, delivery: DeliverySettings): Promise<PipelineResult> {
  const tag = `${name.replace('-', '_')}_${round}`;
  let databaseUrl: string | undefined;
  if (name !== 'raw') {
    const database = `mmk_evbench_${RUN_ID.replace('-', '_')}_${tag}`;
    await admin((c) => c.query(`create database "${database}"`));
    liveDatabases.add(database);
    databaseUrl = withDatabase(settings.baseUrl, database);
  }
  const keyPrefix = `${KEY_PREFIX}-${tag}`;
  const job: EventsJob = {
    pipeline: name,
    adminUrl: settings.baseUrl,
    databaseUrl,
    redisUrl: settings.redisUrl,
    keyPrefix,
    phases: settings.phases,
    delivery,
    publishOneByOne: settings.publishOneByOne,
    kitEnv: settings.kitEnv,
    profileDir: settings.profileDir,
  };
  const child = spawn(process.execPath, [...settings.nodeArgs, '--import', 'tsx', join(ROOT, 'bench', 'events-child.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_EVENTS_JOB: JSON.stringify(job) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  liveChild = child;
  try {
    return await waitForChild(child, name);
  } finally {
    liveChild = undefined;
    if (databaseUrl) await dropDatabase(new URL(databaseUrl).pathname.slice(1));
    await deleteRedisKeys(keyPrefix);
  }
}

// ---------------------------------------------------------------------------
// Main: header, rounds, summary, goals.

async function versions(): Promise<{ postgres: string; redis: string }> {
  const postgres = await admin(async (c) => (await c.query<{ server_version: string }>('show server_version')).rows[0]!.server_version);
  const redis = new Redis(settings.redisUrl);
  try {
    return { postgres, redis: /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?' };
  } finally {
    redis.disconnect();
  }
}

/** The rounds' ratios a/b of one figure, for the pipelines that ran in the same rounds. */
function ratios(runs: Partial<Record<PipelineName, PipelineResult[]>>, a: PipelineName, b: PipelineName, pick: (r: PipelineResult) => number): number[] {
  const [ra, rb] = [runs[a], runs[b]];
  if (!ra || !rb) return [];
  return ra.map((r, i) => pick(r) / pick(rb[i]!));
}

/** Prints the comparison and the goals; returns the goals missed. */
function report(runs: Partial<Record<PipelineName, PipelineResult[]>>): string[] {
  const summaries: Partial<Record<PipelineName, PipelineSummary>> = {};
  for (const name of settings.pipelines) summaries[name] = summarize(runs[name] ?? []);
  console.log(`\nmedians of ${settings.rounds} round(s), throughput phase (CPU per event: this pipeline's Node process, its database's PostgreSQL backends, the Redis server):\n`);
  console.log(summaryTable(summaries));

  const rate = (r: PipelineResult) => r.throughput.eventsPerSec;
  const cpu = (r: PipelineResult) => r.throughput.cpu.totalUs;
  const list = (xs: number[]) => xs.map((x) => fmt(x, 2)).join(', ');
  const kitVsHand: Array<[string, number[]]> = [];
  console.log('');
  for (const bus of ['bullmq', 'memory'] as const) {
    const [kit, hand] = [`kit-${bus}`, `hand-${bus}`] as const;
    const throughput = ratios(runs, kit, hand, rate);
    if (throughput.length === 0) continue;
    kitVsHand.push([bus === 'bullmq' ? 'BullMQ' : 'memory', throughput]);
    console.log(
      `kit / hand-written, ${bus}: throughput ${fmt(median(throughput), 3)} (rounds: ${list(throughput)}); ` +
        `CPU per event ${fmt(median(ratios(runs, kit, hand, cpu)), 2)}× the hand-written one`,
    );
  }
  if (runs.raw) {
    const raw = summaries.raw!;
    const of = (name: PipelineName) => (runs[name] ? `${name} ${fmt(median(ratios(runs, name, 'raw', rate)), 2)}` : undefined);
    console.log(
      `ceiling without a database, raw BullMQ with the same batches: ${fmt(raw.eventsPerSec)} events/s at ${fmt(raw.cpu.totalUs)} µs CPU per event` +
        ` (node ${fmt(raw.cpu.nodeUs)}, Redis ${fmt(raw.cpu.redisUs)}); throughput as a share of it: ${[of('hand-bullmq'), of('kit-bullmq')].filter(Boolean).join(', ') || 'n/a'}`,
    );
  }

  const rows: string[][] = [];
  const missed: string[] = [];
  const goal = (what: string, target: string, measured: string, ok: boolean) => {
    rows.push([what, target, measured, ok ? 'met' : 'MISSED']);
    if (!ok) missed.push(`${what}: ${measured}, goal ${target}`);
  };
  for (const [bus, throughput] of kitVsHand) goal(`kit / hand-written throughput, ${bus}`, `>= ${GOALS.kitVsHand}`, fmt(median(throughput), 3), median(throughput) >= GOALS.kitVsHand);
  if (summaries['kit-memory']) {
    const m = summaries['kit-memory'].eventsPerSec;
    goal('kit on the memory bus, throughput', `>= ${fmt(GOALS.memoryEventsPerSec)} events/s`, `${fmt(m)} events/s`, m >= GOALS.memoryEventsPerSec);
  }
  for (const name of ['kit-bullmq', 'kit-memory'] as const) {
    const s = summaries[name];
    if (!s) continue;
    for (const [when, l] of [['', s.latency], [', after the burst', s.latencyAfterBurst]] as const) {
      goal(`${name} latency p50 at ${fmt(settings.phases.rate)} events/s${when}`, `<= ${GOALS.p50Ms} ms`, `${fmt(l.p50, 1)} ms`, l.p50 <= GOALS.p50Ms);
      goal(`${name} latency p99 at ${fmt(settings.phases.rate)} events/s${when}`, `<= ${GOALS.p99Ms} ms`, `${fmt(l.p99, 1)} ms`, l.p99 <= GOALS.p99Ms);
    }
  }
  if (rows.length > 0) console.log(`\n${table(['goal', 'target', 'measured', 'verdict'], rows)}`);

  const others = Object.values(runs).flatMap((rs) => rs.flatMap((r) => [r.throughput.cpu.otherCores, r.latency.cpu.otherCores, r.latencyAfterBurst.cpu.otherCores]));
  const maxOther = Math.max(0, ...others);
  if (maxOther > 0.2) console.log(`\nWARNING: other processes used up to ${fmt(maxOther, 2)} cores during a phase: the events/s and latencies above are lower than on a quiet machine (the CPU per event much less so).`);
  return missed;
}

async function main(): Promise<string[]> {
  if (settings.profileDir) mkdirSync(settings.profileDir, { recursive: true });
  const v = await versions();
  const delivery = deliverySettings();
  const { phases } = settings;
  const hogs = busyProcesses();
  console.log(
    `events bench: ${settings.pipelines.join(', ')}; ${settings.rounds} round(s)\n` +
      `  throughput phase ${fmt(phases.events)} events in transactions of ${phases.batch} from ${phases.producers} concurrent producers; ` +
      `latency phases ${fmt(phases.rate)} events/s for ${phases.rateSeconds} s (one transaction every ${phases.tickMs} ms); warm-up ${fmt(phases.warmup)}; split phases ${fmt(phases.splitEvents)}\n` +
      `  node ${process.version}, ${availableParallelism()} cores, PostgreSQL ${v.postgres}, Redis ${v.redis}, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}` +
      (hogs ? `\n  WARNING: other processes busy on the CPU: ${hogs}` : ''),
  );
  console.log(
    `  every pipeline: pool ${delivery.poolMax}, relay batch ${delivery.relayBatch}, poll ${delivery.relayPollMs} ms, lease ${delivery.relayLeaseMs} ms, ` +
      `worker concurrency ${delivery.workerConcurrency}, attempts ${delivery.maxAttempts}, lock ${delivery.lockMs} ms; Redis keys under ${KEY_PREFIX}*\n` +
      `  producers: ${settings.publishOneByOne ? 'one insert per event (kit: events.publish)' : 'one insert per transaction (kit: events.publishMany)'} (BENCH_PUBLISH)\n` +
      `  kit settings: ${Object.entries(settings.kitEnv).map(([k, val]) => `${k}=${val}`).join(' ')}${settings.kitEnv.NODE_ENV === undefined ? ' (NODE_ENV unset: nesting check on)' : ''}\n`,
  );

  const runs: Partial<Record<PipelineName, PipelineResult[]>> = {};
  for (let round = 1; round <= settings.rounds; round += 1) {
    // Every other round in reverse order, so a drift of the machine does not always favour the same pipeline.
    const order = round % 2 === 1 ? settings.pipelines : [...settings.pipelines].reverse();
    for (const name of order) {
      const result = await runPipeline(name, round, delivery);
      (runs[name] ??= []).push(result);
      printRun(round, name, result, phases);
    }
  }
  const missed = report(runs);
  const hogsAfter = busyProcesses();
  console.log(`\nload average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')}${hogsAfter ? `; other busy processes: ${hogsAfter}` : ''}`);
  return missed;
}

let exitCode = 0;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping`);
    void cleanUp().finally(() => process.exit(130));
  });
}
try {
  const missed = await main();
  if (missed.length > 0) {
    console.log(`\nGOALS MISSED (exit code 2):\n${missed.map((m) => `  - ${m}`).join('\n')}`);
    exitCode = 2;
  } else {
    console.log('\nevery goal met');
  }
} catch (error) {
  if (!interrupted) console.error('events bench failed:', error);
  exitCode = 1;
} finally {
  if (!(await cleanUp()) && exitCode === 0) exitCode = 1;
}
process.exit(exitCode);
