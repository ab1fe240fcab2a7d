/**
 * One pipeline of `npm run bench:events`, in a process of its own: the bench
 * starts it with the job in BENCH_EVENTS_JOB (JSON) and gets the result over
 * IPC. A fresh process per pipeline, so none inherits another's heap, compiled
 * code or async hooks, and a baseline's process loads no kit code (but for
 * the Redis URL parser).
 *
 * Phases: warm-up, latency, throughput, latency right after the burst, then
 * (pipelines with an outbox) the two diagnostic split phases.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { CpuMeter } from './cpu-usage.js';
import type { ChildMessage, EventsJob, PipelineResult } from './events-job.js';
import { PhaseRunner, Recorder, type OpenPipeline } from './events-phases.js';

async function opener(job: EventsJob, recorder: Recorder): Promise<OpenPipeline> {
  // Imported on demand: a pipeline's process loads only its own code.
  switch (job.pipeline) {
    case 'raw':
      return (await import('./events-raw-pipeline.js')).rawPipeline(job, recorder);
    case 'hand-bullmq':
    case 'hand-memory':
      return (await import('./events-hand-pipeline.js')).handPipeline(job, recorder, job.pipeline === 'hand-bullmq' ? 'bullmq' : 'memory');
    case 'kit-bullmq':
    case 'kit-memory':
      return (await import('./events-kit-pipeline.js')).kitPipeline(job, recorder, job.pipeline === 'kit-bullmq' ? 'bullmq' : 'memory');
  }
}

/**
 * Checks that the pipeline did the durable work it is credited with: every
 * outbox row published, one inbox row per event (hand-written and kit alike
 * keep their tables in the schema `bench`).
 */
async function verifyDatabase(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ outbox: number; pending: number; inbox: number }>(
      `select (select count(*)::int from bench.outbox) as outbox,
              (select count(*)::int from bench.outbox where published_at is null) as pending,
              (select count(*)::int from bench.inbox) as inbox`,
    );
    const { outbox, pending, inbox } = rows[0]!;
    if (pending !== 0 || inbox !== outbox) throw new Error(`durable work incomplete: ${outbox} outbox rows, ${pending} unpublished, ${inbox} inbox rows`);
  } finally {
    await client.end();
  }
}

/** Runs `fn` under V8's CPU profiler when the job asks for it (BENCH_PROFILE_DIR), and writes the profile. */
async function profiled<T>(job: EventsJob, fn: () => Promise<T>): Promise<T> {
  if (!job.profileDir) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(join(job.profileDir, `${job.keyPrefix}-throughput.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

async function run(job: EventsJob): Promise<PipelineResult> {
  const recorder = new Recorder();
  const open = await opener(job, recorder);
  const redis = new Redis(job.redisUrl);
  const database = job.databaseUrl ? new URL(job.databaseUrl).pathname.slice(1) : undefined;
  const meter = await CpuMeter.open({ redis, ...(database ? { postgres: { url: job.adminUrl, database } } : {}) });
  try {
    const runner = new PhaseRunner(recorder, job.phases, meter, job.pipeline);
    const pipeline = await open({ relay: true });
    let measured: Omit<PipelineResult, 'split'>;
    try {
      await runner.warmUp(pipeline.produce);
      const latency = await runner.latency(pipeline.produce);
      const throughput = await profiled(job, () => runner.throughput(pipeline.produce));
      const latencyAfterBurst = await runner.latency(pipeline.produce);
      measured = { latency, throughput, latencyAfterBurst };
    } finally {
      await pipeline.close();
    }
    const result = database && job.phases.splitEvents > 0 ? { ...measured, split: await runner.split(open) } : measured;
    if (job.databaseUrl) await verifyDatabase(job.databaseUrl);
    return result;
  } finally {
    await meter.close();
    redis.disconnect();
  }
}

function reply(message: ChildMessage, code: number): void {
  if (!process.send) {
    console.log(JSON.stringify(message));
    process.exit(code);
  }
  process.send(message, () => process.exit(code));
}

// The bench went away (killed): stop too rather than run on unobserved.
process.once('disconnect', () => process.exit(1));
const raw = process.env.BENCH_EVENTS_JOB;
if (!raw) throw new Error('BENCH_EVENTS_JOB is required: this file is started by bench/events-bench.ts');
run(JSON.parse(raw) as EventsJob).then(
  (result) => reply({ type: 'result', result }, 0),
  (error: unknown) => reply({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, 1),
);
