/**
 * CPU time of the parts of a benchmark: a Node process (this one or a child),
 * the PostgreSQL backends connected to one database, and the Redis server;
 * plus how busy the rest of the machine was meanwhile. On a shared machine a
 * rate (events/s, req/s) moves with the neighbours; the CPU time per unit of
 * work much less. Linux only: it reads /proc.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { fmt } from './bench-format.js';

export interface CpuMeterOptions {
  /** The Node process to measure: this one (default, measured with process.cpuUsage) or another, e.g. a child. */
  pid?: number;
  /** Counts the backends connected to `database`; `url` is any database of the server (the meter keeps one connection there). */
  postgres?: { url: string; database: string };
  /** Counts the Redis server's CPU (the whole server: other users of a shared Redis count too). */
  redis?: Redis;
}

export interface CpuSnapshot {
  /** performance.now() when the snapshot was taken. */
  at: number;
  /** µs of CPU of the Node process, user and system (the kernel's share). */
  node: { user: number; system: number };
  /** Clock ticks (user + system) of each PostgreSQL backend connected to the database. */
  pg: Map<number, number>;
  /** Seconds of CPU of the Redis server. */
  redis: number;
  /** Busy clock ticks of the whole machine (/proc/stat). */
  machineTicks: number;
}

/** CPU time per unit of work (an event, a request, a saga), in µs. */
export interface CpuPerUnit {
  nodeUs: number;
  /** Of nodeUs, the part spent in the kernel (socket writes and reads, mostly). */
  nodeSystemUs: number;
  pgUs: number;
  redisUs: number;
  totalUs: number;
  /** (node + PostgreSQL + Redis CPU) / wall time, in cores. */
  cores: number;
  /** CPU the rest of the machine used meanwhile, in cores (PostgreSQL's background processes included). */
  otherCores: number;
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc's figures (getconf CLK_TCK; 100 on every usual Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime and stime of a process, in clock ticks; undefined once it is gone. */
function processTicks(pid: number): { user: number; system: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]), system: Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function machineBusyTicks(): number {
  try {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const t = fields.map(Number);
    // user nice system idle iowait irq softirq steal: busy = user + nice + system + irq + softirq
    // (steal is the hypervisor's, guest time is already in user).
    return t[0]! + t[1]! + t[2]! + t[5]! + t[6]!;
  } catch {
    return NaN;
  }
}

/**
 * Takes CPU snapshots of a benchmark's parts. A backend that connects between
 * two snapshots counts from zero; one that disconnects between them is lost,
 * so keep pools open across a measured phase.
 *
 * @example
 * const meter = await CpuMeter.open({ pid: child.pid, postgres: { url: baseUrl, database: 'mmk_bench_1' }, redis });
 * const before = await meter.snapshot();
 * await runSagas(1000);
 * console.log(formatCpu(cpuPerUnit(before, await meter.snapshot(), 1000))); // node 75 µs (6 in the kernel), PostgreSQL 57 µs, …
 * await meter.close();
 */
export class CpuMeter {
  readonly #options: CpuMeterOptions;
  readonly #client: pg.Client | undefined;

  private constructor(options: CpuMeterOptions, client: pg.Client | undefined) {
    this.#options = options;
    this.#client = client;
  }

  static async open(options: CpuMeterOptions): Promise<CpuMeter> {
    let client: pg.Client | undefined;
    if (options.postgres) {
      client = new pg.Client({ connectionString: options.postgres.url, application_name: 'bench:cpu-meter' });
      await client.connect();
    }
    return new CpuMeter(options, client);
  }

  async snapshot(): Promise<CpuSnapshot> {
    const pgTicks = new Map<number, number>();
    if (this.#client && this.#options.postgres) {
      const { rows } = await this.#client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [
        this.#options.postgres.database,
      ]);
      for (const { pid } of rows) {
        const ticks = processTicks(pid);
        if (ticks) pgTicks.set(pid, ticks.user + ticks.system);
      }
    }
    let redis = 0;
    if (this.#options.redis) {
      const info = await this.#options.redis.info('cpu');
      const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
      redis = seconds('used_cpu_user') + seconds('used_cpu_sys');
    }
    return { at: performance.now(), node: this.#nodeUsage(), pg: pgTicks, redis, machineTicks: machineBusyTicks() };
  }

  #nodeUsage(): { user: number; system: number } {
    const { pid } = this.#options;
    if (pid === undefined || pid === process.pid) return process.cpuUsage();
    const ticks = processTicks(pid) ?? { user: NaN, system: NaN };
    const us = 1e6 / ticksPerSecond();
    return { user: ticks.user * us, system: ticks.system * us };
  }

  async close(): Promise<void> {
    await this.#client?.end();
  }
}

/** CPU per unit between two snapshots; `wallMs` defaults to the time between them. */
export function cpuPerUnit(before: CpuSnapshot, after: CpuSnapshot, units: number, wallMs = after.at - before.at): CpuPerUnit {
  const tickUs = 1e6 / ticksPerSecond();
  const nodeUser = after.node.user - before.node.user;
  const nodeSystem = after.node.system - before.node.system;
  const nodeUs = nodeUser + nodeSystem;
  let pgTicks = 0;
  for (const [pid, ticks] of after.pg) pgTicks += ticks - (before.pg.get(pid) ?? 0);
  const pgUs = pgTicks * tickUs;
  const redisUs = (after.redis - before.redis) * 1e6;
  const machineUs = (after.machineTicks - before.machineTicks) * tickUs;
  const totalUs = nodeUs + pgUs + redisUs;
  return {
    nodeUs: nodeUs / units,
    nodeSystemUs: nodeSystem / units,
    pgUs: pgUs / units,
    redisUs: redisUs / units,
    totalUs: totalUs / units,
    cores: totalUs / 1000 / wallMs,
    otherCores: Math.max(0, machineUs - totalUs) / 1000 / wallMs,
  };
}

/** `node 75 µs (6 in the kernel), PostgreSQL 57 µs, Redis 6 µs = 137 µs (1.58 cores busy; other processes 0.00 cores)` */
export function formatCpu(c: CpuPerUnit): string {
  return (
    `node ${fmt(c.nodeUs)} µs (${fmt(c.nodeSystemUs)} in the kernel), PostgreSQL ${fmt(c.pgUs)} µs, Redis ${fmt(c.redisUs)} µs` +
    ` = ${fmt(c.totalUs)} µs (${fmt(c.cores, 2)} cores busy; other processes ${fmt(c.otherCores, 2)} cores)`
  );
}

/** Processes (other than `except`) using at least `minPercent` of a core right now, by top's second sample: `name(pid) 85%, …`. */
export function busyProcesses(except: readonly number[] = [process.pid], minPercent = 20): string {
  try {
    const out = execFileSync('top', ['-bn2', '-d', '0.5', '-w', '200'], { encoding: 'utf8' });
    const frame = out.slice(out.lastIndexOf('PID USER'));
    const skip = new Set(except.map(String));
    return frame
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length >= 12 && !skip.has(cols[0]!) && Number(cols[8]) >= minPercent)
      .map((cols) => `${cols.slice(11).join(' ')}(${cols[0]}) ${cols[8]}%`)
      .join(', ');
  } catch {
    return '';
  }
}
