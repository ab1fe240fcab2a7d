/**
 * The measured phases of `npm run bench:events`, whatever carries the events:
 * a producer commits a batch and returns the ids it committed; the pipeline
 * tells the Recorder when each event has been handled.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuPerUnit, type CpuMeter } from './cpu-usage.js';
import type { LatencyResult, PhaseSettings, SplitResult, ThroughputResult } from './events-job.js';

/** Commits `size` events (one transaction; raw BullMQ: one add) and returns their ids. */
export type Produce = (size: number) => Promise<string[]>;

/** A started pipeline; `relay: false` opens it with nothing taking events out of the outbox. */
export interface OpenedPipeline {
  produce: Produce;
  close(): Promise<void>;
}
export type OpenPipeline = (options: { relay: boolean }) => Promise<OpenedPipeline>;

const PHASE_TIMEOUT_MS = 120_000;

/** When each event was committed and when it was handled. */
export class Recorder {
  readonly committedAt = new Map<string, number>();
  readonly handledAt = new Map<string, number>();
  firstCommit = Infinity;
  lastCommit = 0;
  lastHandled = 0;
  #expected = Infinity;
  #done: (() => void) | undefined;

  reset(): void {
    this.committedAt.clear();
    this.handledAt.clear();
    this.firstCommit = Infinity;
    this.lastCommit = 0;
    this.lastHandled = 0;
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
    this.lastHandled = performance.now();
    this.handledAt.set(id, this.lastHandled);
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

  /** Commit → handled of every event that has both, sorted. */
  latencies(): number[] {
    const out: number[] = [];
    for (const [id, handled] of this.handledAt) {
      const committed = this.committedAt.get(id);
      if (committed !== undefined) out.push(handled - committed);
    }
    return out.sort((a, b) => a - b);
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Runs the phases of one pipeline with one recorder and one CPU meter. */
export class PhaseRunner {
  constructor(
    readonly recorder: Recorder,
    readonly settings: PhaseSettings,
    readonly meter: CpuMeter,
    readonly label: string,
  ) {}

  /** `count` events from `producers` concurrent producers, each taking the next batch until all are committed. */
  async #produceAll(produce: Produce, count: number, producers: number): Promise<void> {
    let sent = 0;
    const producer = async () => {
      while (sent < count) {
        const size = Math.min(this.settings.batch, count - sent);
        sent += size;
        this.recorder.committed(await produce(size));
      }
    };
    await Promise.all(Array.from({ length: producers }, producer));
  }

  async warmUp(produce: Produce): Promise<void> {
    const { warmup } = this.settings;
    if (warmup === 0) return;
    this.recorder.reset();
    await this.#produceAll(produce, warmup, 1);
    await this.recorder.waitHandled(warmup, `${this.label} warm-up`);
  }

  /** As fast as the producers can commit; events/s from the first commit to the last handled event. */
  async throughput(produce: Produce): Promise<ThroughputResult> {
    const { recorder } = this;
    const { events, producers } = this.settings;
    recorder.reset();
    const before = await this.meter.snapshot();
    await this.#produceAll(produce, events, producers);
    await recorder.waitHandled(events, `${this.label} throughput`);
    const after = await this.meter.snapshot();
    const seconds = (recorder.lastHandled - recorder.firstCommit) / 1000;
    const latencies = recorder.latencies();
    return {
      events,
      seconds,
      eventsPerSec: events / seconds,
      commitPerSec: events / ((recorder.lastCommit - recorder.firstCommit) / 1000),
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpu: cpuPerUnit(before, after, events, recorder.lastHandled - before.at),
    };
  }

  /**
   * An open-loop steady rate, meant to be well under saturation, so the figure
   * measures the pipeline rather than queueing: commit return → handled.
   */
  async latency(produce: Produce): Promise<LatencyResult> {
    const { recorder } = this;
    const { rate, rateSeconds, tickMs } = this.settings;
    recorder.reset();
    const before = await this.meter.snapshot();
    const ticks = Math.round((rateSeconds * 1000) / tickMs);
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    const inFlight: Promise<void>[] = [];
    const start = performance.now();
    // Open loop: the schedule does not wait for slow commits, as independent requests would not.
    for (let k = 0; k < ticks; k += 1) {
      const wait = start + k * tickMs - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(produce(perTick).then((ids) => recorder.committed(ids)));
    }
    await Promise.all(inFlight);
    const events = ticks * perTick;
    await recorder.waitHandled(events, `${this.label} latency`);
    const after = await this.meter.snapshot();
    const latencies = recorder.latencies();
    return {
      events,
      targetRate: (perTick * 1000) / tickMs,
      achievedRate: events / ((recorder.lastHandled - recorder.firstCommit) / 1000),
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? NaN,
      cpu: cpuPerUnit(before, after, events, recorder.lastHandled - start),
    };
  }

  /**
   * Where the time goes: `splitEvents` outbox writes with the relay off, then
   * a fresh start with the relay on, draining that backlog alone.
   */
  async split(open: OpenPipeline): Promise<SplitResult> {
    const { recorder } = this;
    const count = this.settings.splitEvents;
    const writer = await open({ relay: false });
    let publishPerSec: number;
    let publishCpu;
    try {
      await writer.produce(1); // opens a connection, so the CPU snapshot sees its backend
      recorder.reset();
      const before = await this.meter.snapshot();
      await this.#produceAll(writer.produce, count, this.settings.producers);
      const wallMs = recorder.lastCommit - before.at;
      publishCpu = cpuPerUnit(before, await this.meter.snapshot(), count, wallMs);
      publishPerSec = count / (wallMs / 1000);
    } finally {
      await writer.close();
    }
    const drainer = await open({ relay: true });
    try {
      // The relay started inside open(), a little earlier: the first instants of the drain are missed by both figures.
      const before = await this.meter.snapshot();
      await recorder.waitHandled(count + 1, `${this.label} backlog`); // + the connection opener
      const wallMs = recorder.lastHandled - before.at;
      return { publishPerSec, publishCpu, drainPerSec: count / (wallMs / 1000), drainCpu: cpuPerUnit(before, await this.meter.snapshot(), count, wallMs) };
    } finally {
      await drainer.close();
    }
  }
}
