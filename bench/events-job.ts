/**
 * What `npm run bench:events` hands to each pipeline's child process, and
 * what the child sends back. Plain data: it crosses the process boundary as
 * JSON (env in, IPC out).
 */
import type { CpuPerUnit } from './cpu-usage.js';

/**
 * - raw: BullMQ alone, one job per relay-sized batch of events, no database (the ceiling);
 * - hand-*: the same durable work written by hand with `pg` and `bullmq`: outbox insert in
 *   the producer's transaction, relay, one inbox transaction per delivery;
 * - kit-*: the kit doing that work (createApp, a module that publishes and handles).
 */
export const PIPELINES = ['raw', 'hand-bullmq', 'kit-bullmq', 'hand-memory', 'kit-memory'] as const;
export type PipelineName = (typeof PIPELINES)[number];

/** Names BENCH_ONLY accepts besides the pipelines' own. */
export const PIPELINE_GROUPS: Readonly<Record<string, readonly PipelineName[]>> = {
  bullmq: ['hand-bullmq', 'kit-bullmq'],
  memory: ['hand-memory', 'kit-memory'],
  hand: ['hand-bullmq', 'hand-memory'],
  kit: ['kit-bullmq', 'kit-memory'],
};

export const PIPELINE_TITLES: Readonly<Record<PipelineName, string>> = {
  raw: 'raw BullMQ, same batches (no database: the ceiling)',
  'hand-bullmq': 'hand-written on BullMQ (outbox → relay → BullMQ → worker → inbox transaction)',
  'kit-bullmq': 'kit on BullMQ (outbox → relay → BullMQ → worker → inbox transaction)',
  'hand-memory': 'hand-written in process (outbox → relay → function call → inbox transaction)',
  'kit-memory': 'kit on the memory bus (outbox → relay → eventemitter2 → inbox transaction)',
};

/** The load: the same for every pipeline. */
export interface PhaseSettings {
  /** Events of the throughput phase. */
  events: number;
  /** Events per producer transaction (raw: per add). */
  batch: number;
  /** Concurrent producers of the throughput phase. */
  producers: number;
  /** Latency phase: events/s, seconds, one transaction every tickMs. */
  rate: number;
  rateSeconds: number;
  tickMs: number;
  warmup: number;
  /** Events of the two diagnostic phases of the pipelines with an outbox (0 skips them). */
  splitEvents: number;
}

/** How events are carried: the kit's settings, which the hand-written and raw pipelines copy. */
export interface DeliverySettings {
  /** Outbox rows claimed per relay round, and so the most events one BullMQ job holds. */
  relayBatch: number;
  relayPollMs: number;
  relayLeaseMs: number;
  /** Connections of the (module's) pool that producers, relay and handlers share. */
  poolMax: number;
  workerConcurrency: number;
  lockMs: number;
  maxAttempts: number;
  retryBaseDelayMs: number;
}

export interface EventsJob {
  pipeline: PipelineName;
  /** Any database of the server, for the CPU meter's connection. */
  adminUrl: string;
  /** The pipeline's own fresh database (not for raw). */
  databaseUrl: string | undefined;
  redisUrl: string;
  /** Every Redis key of the pipeline starts with it. */
  keyPrefix: string;
  phases: PhaseSettings;
  delivery: DeliverySettings;
  /** The kit's producers: one `events.publish` per event instead of one `publishMany` per transaction (the hand-written one insert per event). */
  publishOneByOne: boolean;
  /** A folder for a V8 CPU profile of the throughput phase (BENCH_PROFILE_DIR), or undefined. */
  profileDir: string | undefined;
  /** The kit's settings besides those the pipeline fixes (database, bus, Redis, relay): see kitSettings. */
  kitEnv: Record<string, string | undefined>;
}

/** Settings of the kit a run of the bench may change, read from its environment. */
const KIT_SETTINGS = ['DATABASE_POOL_MAX', 'DATABASE_MODULE_ROLES', 'DATABASE_NESTING_CHECK', 'EVENT_WORKER_CONCURRENCY', 'EVENT_MAX_ATTEMPTS', 'EVENT_LOCK_MS'] as const;

/**
 * The kit's settings for the bench: those of KIT_SETTINGS found in `env`, and
 * NODE_ENV from BENCH_KIT_NODE_ENV (default production, as deployed: the
 * development-only nesting check is then off; empty leaves NODE_ENV unset,
 * the development default).
 */
export function kitSettings(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const settings: Record<string, string | undefined> = { LOG_LEVEL: 'warn', NODE_ENV: env.BENCH_KIT_NODE_ENV ?? 'production' };
  if (settings.NODE_ENV === '') delete settings.NODE_ENV;
  for (const name of KIT_SETTINGS) if (env[name] !== undefined && env[name] !== '') settings[name] = env[name];
  return settings;
}

export interface ThroughputResult {
  events: number;
  seconds: number;
  /** Events over first commit → last handled. */
  eventsPerSec: number;
  /** Rate at which the producers committed (first to last commit). */
  commitPerSec: number;
  /** Latency under saturation: mostly queueing. */
  p50: number;
  p99: number;
  cpu: CpuPerUnit;
}

export interface LatencyResult {
  events: number;
  targetRate: number;
  achievedRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  cpu: CpuPerUnit;
}

/** A pipeline with an outbox in two halves: outbox writes with the relay off, then the relay draining that backlog. */
export interface SplitResult {
  publishPerSec: number;
  publishCpu: CpuPerUnit;
  drainPerSec: number;
  drainCpu: CpuPerUnit;
}

export interface PipelineResult {
  /** At a steady rate, after the warm-up. */
  latency: LatencyResult;
  throughput: ThroughputResult;
  /** The same again right after the throughput burst (the outbox then holds its published rows, not yet vacuumed). */
  latencyAfterBurst: LatencyResult;
  split?: SplitResult;
}

export type ChildMessage = { type: 'result'; result: PipelineResult } | { type: 'error'; message: string };
