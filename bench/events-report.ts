/**
 * What `npm run bench:events` prints: each run of a pipeline, then the
 * pipelines side by side (medians over the rounds), the ratios and the goals.
 */
import { fmt, median, table } from './bench-format.js';
import { formatCpu, type CpuPerUnit } from './cpu-usage.js';
import { PIPELINE_TITLES, type LatencyResult, type PhaseSettings, type PipelineName, type PipelineResult } from './events-job.js';

const ms = (n: number) => `${fmt(n, 1)} ms`;

/** One run of one pipeline, as it comes in. */
export function printRun(round: number, name: PipelineName, r: PipelineResult, phases: PhaseSettings): void {
  const t = r.throughput;
  console.log(`round ${round}, ${name}: ${PIPELINE_TITLES[name]}`);
  const latencyLine = (what: string, l: LatencyResult) =>
    console.log(
      `  ${what} at ${fmt(l.targetRate)} events/s for ${phases.rateSeconds} s (${fmt(l.events)} events, ${fmt(l.achievedRate)} events/s delivered):` +
        ` p50 ${ms(l.p50)}, p90 ${ms(l.p90)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${fmt(l.cpu.cores, 2)} cores busy, other processes ${fmt(l.cpu.otherCores, 2)} cores)`,
    );
  latencyLine('latency', r.latency);
  console.log(
    `  throughput: ${fmt(t.events)} events in ${fmt(t.seconds, 2)} s = ${fmt(t.eventsPerSec)} events/s` +
      `  (committed at ${fmt(t.commitPerSec)} events/s; latency at saturation p50 ${ms(t.p50)}, p99 ${ms(t.p99)})`,
  );
  latencyLine('latency right after that burst', r.latencyAfterBurst);
  console.log(`  CPU per event, throughput phase: ${formatCpu(t.cpu)}`);
  if (r.split) {
    console.log(`  split 1, ${fmt(phases.splitEvents)} outbox writes alone (relay off, ${phases.producers} producers): ${fmt(r.split.publishPerSec)} events/s; CPU per event: ${formatCpu(r.split.publishCpu)}`);
    console.log(`  split 2, relay + delivery + consumers alone on that backlog: ${fmt(r.split.drainPerSec)} events/s; CPU per event: ${formatCpu(r.split.drainCpu)}`);
  }
}

export interface PipelineSummary {
  eventsPerSec: number;
  cpu: Pick<CpuPerUnit, 'nodeUs' | 'pgUs' | 'redisUs' | 'totalUs'>;
  latency: { p50: number; p99: number };
  latencyAfterBurst: { p50: number; p99: number };
  publishPerSec: number;
  drainPerSec: number;
  drainCpuUs: number;
}

/** Medians over the rounds, figure by figure. */
export function summarize(runs: readonly PipelineResult[]): PipelineSummary {
  const m = (pick: (r: PipelineResult) => number) => median(runs.map(pick));
  return {
    eventsPerSec: m((r) => r.throughput.eventsPerSec),
    cpu: { nodeUs: m((r) => r.throughput.cpu.nodeUs), pgUs: m((r) => r.throughput.cpu.pgUs), redisUs: m((r) => r.throughput.cpu.redisUs), totalUs: m((r) => r.throughput.cpu.totalUs) },
    latency: { p50: m((r) => r.latency.p50), p99: m((r) => r.latency.p99) },
    latencyAfterBurst: { p50: m((r) => r.latencyAfterBurst.p50), p99: m((r) => r.latencyAfterBurst.p99) },
    publishPerSec: m((r) => r.split?.publishPerSec ?? NaN),
    drainPerSec: m((r) => r.split?.drainPerSec ?? NaN),
    drainCpuUs: m((r) => r.split?.drainCpu.totalUs ?? NaN),
  };
}

/** The pipelines side by side. */
export function summaryTable(summaries: Partial<Record<PipelineName, PipelineSummary>>): string {
  const rows = Object.entries(summaries).map(([name, s]) => [
    name,
    fmt(s.eventsPerSec),
    fmt(s.cpu.nodeUs),
    fmt(s.cpu.pgUs),
    fmt(s.cpu.redisUs),
    fmt(s.cpu.totalUs),
    `${fmt(s.latency.p50, 1)} / ${fmt(s.latency.p99, 1)}`,
    `${fmt(s.latencyAfterBurst.p50, 1)} / ${fmt(s.latencyAfterBurst.p99, 1)}`,
    fmt(s.publishPerSec),
    fmt(s.drainPerSec),
    fmt(s.drainCpuUs),
  ]);
  return table(
    ['pipeline', 'events/s', 'node µs/ev', 'PostgreSQL µs/ev', 'Redis µs/ev', 'CPU µs/ev', 'latency p50 / p99 ms', 'after burst', 'outbox writes/s', 'drain/s', 'drain µs/ev'],
    rows,
  );
}
