/**
 * `npm run bench:http`: GET /api/catalog/products/:id through the kit against
 * a bare Express 5 + pg handler running the same query, on PostgreSQL.
 *
 * Each server runs in a child process of its own; autocannon runs here, so the
 * load generator never shares an event loop with the server it measures. The
 * servers are benched one after the other (never at the same time) against the
 * same fresh database and the same product, each phase preceded by a warm-up,
 * and the pair is repeated (order alternating) so noise does not decide the ratio.
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test);
 *                       the bench creates and drops its own database mmk_bench_<pid> next to it
 *   BENCH_DURATION      measured seconds per phase (default 10)
 *   BENCH_WARMUP        warm-up seconds before each measured phase (default 3)
 *   BENCH_CONNECTIONS   concurrent connections (default 50)
 *   BENCH_ROUNDS        kit/bare pairs (default 2); the best phase of each server counts
 *   DATABASE_POOL_MAX   the kit's per-module pool (default 5); the bare pool gets the same max
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv } from './bench-env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL = 0.9;

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  duration: intEnv('BENCH_DURATION', 10),
  warmup: intEnv('BENCH_WARMUP', 3, 0),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  rounds: intEnv('BENCH_ROUNDS', 2),
  poolMax: intEnv('DATABASE_POOL_MAX', 5),
};

type ServerName = 'kit' | 'bare';

interface Phase {
  server: ServerName;
  round: number;
  reqPerSec: number;
  total: number;
  p50: number;
  p99: number;
  /** Server process CPU time (user + system) per request of the measured phase. */
  cpuUsPerReq: number;
}

// ---------------------------------------------------------------- database

function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return withAdminClient(settings.baseUrl, fn);
}

// ---------------------------------------------------------------- child processes

interface RunningServer {
  name: ServerName;
  child: ChildProcess;
  url: string;
  output: string[];
}

const children = new Set<ChildProcess>();

function startServer(name: ServerName, dbUrl: string): Promise<RunningServer> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_DB_URL: dbUrl, BENCH_POOL_MAX: String(settings.poolMax) };
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', `${name}-server.ts`)], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  // Keep the tail of the server's output for the error report, and always
  // drain the pipes so a chatty server never blocks on a full pipe.
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (output.length > 40) output.splice(0, output.length - 40);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} server did not start within 60 s`)), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      stopServer({ name, child, url: '', output }).catch(() => undefined);
      reject(new Error(`${error.message}\n--- ${name} server output ---\n${output.join('\n')}`));
    };
    child.once('exit', (code, signal) => fail(new Error(`${name} server exited during start (code ${code}, signal ${signal})`)));
    child.once('error', fail);
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type !== 'ready' || typeof message.port !== 'number') return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve({ name, child, url: `http://127.0.0.1:${message.port}`, output });
    });
  });
}

async function stopServer(server: RunningServer): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  await new Promise<void>((done) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(killer);
      done();
    });
    child.kill('SIGTERM');
  });
  children.delete(child);
}

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The server's CPU time so far (user + system, µs), asked over IPC. */
function cpuOf(server: RunningServer): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${server.name} server did not report its CPU time`)), 5_000);
    const onMessage = (message: { type?: string; usage?: NodeJS.CpuUsage }) => {
      if (message.type !== 'cpu' || !message.usage) return;
      clearTimeout(timer);
      server.child.off('message', onMessage);
      resolve(message.usage.user + message.usage.system);
    };
    server.child.on('message', onMessage);
    server.child.send({ type: 'cpu' });
  });
}

// ---------------------------------------------------------------- load

async function load(server: RunningServer, path: string, duration: number): Promise<autocannon.Result> {
  const result = await autocannon({
    url: `${server.url}${path}`,
    method: 'GET',
    connections: settings.connections,
    duration,
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) {
    throw new Error(
      `${server.name}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts ` +
        `out of ${result.requests.total} requests\n--- ${server.name} server output ---\n${server.output.join('\n')}`,
    );
  }
  if (result.requests.total === 0) throw new Error(`${server.name}: no responses at all`);
  return result;
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

async function phase(name: ServerName, round: number, dbUrl: string, path: string, expected: unknown): Promise<Phase> {
  const server = await startServer(name, dbUrl);
  try {
    const body = await getJson(`${server.url}${path}`);
    if (!isDeepStrictEqual(body, expected)) {
      throw new Error(`${name} answered ${JSON.stringify(body)}, expected ${JSON.stringify(expected)}`);
    }
    if (settings.warmup > 0) await load(server, path, settings.warmup);
    const cpuBefore = await cpuOf(server);
    const result = await load(server, path, settings.duration);
    const cpuAfter = await cpuOf(server);
    const measured: Phase = {
      server: name,
      round,
      // Completed requests over the phase's real elapsed time (autocannon's per-second
      // average drifts when a sampling tick is late on a busy machine).
      reqPerSec: result.requests.total / result.duration,
      total: result.requests.total,
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuUsPerReq: (cpuAfter - cpuBefore) / result.requests.total,
    };
    console.log(
      `  round ${round} ${name.padEnd(4)} ${fmt(measured.reqPerSec, 0).padStart(8)} req/s  ` +
        `p50 ${fmt(measured.p50, 0)} ms  p99 ${fmt(measured.p99, 0)} ms  ` +
        `server CPU ${fmt(measured.cpuUsPerReq, 0)} µs/req  (${measured.total} requests, all 2xx)`,
    );
    return measured;
  } finally {
    await stopServer(server);
  }
}

// ---------------------------------------------------------------- report

function fmt(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function best(phases: Phase[], name: ServerName): Phase {
  const mine = phases.filter((p) => p.server === name);
  return mine.reduce((a, b) => (b.reqPerSec > a.reqPerSec ? b : a), mine[0]!);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------- main

const dbName = `mmk_bench_${process.pid}`;
let dbCreated = false;

async function dropDatabase(): Promise<void> {
  if (!dbCreated) return;
  await admin((c) => c.query(`drop database if exists "${dbName}" with (force)`)).then(
    () => {
      dbCreated = false;
    },
    (error: unknown) => console.error(`could not drop database ${dbName}:`, error),
  );
}

async function main(): Promise<number> {
  const dbUrl = withDatabase(settings.baseUrl, dbName);
  console.log(
    `bench:http  GET /api/catalog/products/:id  kit vs bare Express 5 + pg\n` +
      `  node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}, database ${dbName}\n` +
      `  ${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s measured per phase, ` +
      `${settings.rounds} rounds, pool max ${settings.poolMax} (kit catalog pool and bare pg.Pool)\n`,
  );

  await admin((c) => c.query(`create database "${dbName}"`));
  dbCreated = true;
  try {
    // The kit migrates the fresh database on start; one product, created through the kit's API.
    const kit = await startServer('kit', dbUrl);
    let product: { id: string; sku: string; name: string; priceCents: number; stock: number };
    try {
      const response = await fetch(`${kit.url}/api/catalog/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'BENCH-1', name: 'Benchmark mug', priceCents: 1250, stock: 1000 }),
      });
      if (response.status !== 201) throw new Error(`POST /api/catalog/products answered ${response.status}: ${await response.text()}`);
      product = (await response.json()) as typeof product;
    } finally {
      await stopServer(kit);
    }
    const path = `/api/catalog/products/${product.id}`;

    const phases: Phase[] = [];
    for (let round = 1; round <= settings.rounds; round++) {
      // Alternate who goes first, so a drift of the machine hits both alike.
      const order: ServerName[] = round % 2 === 1 ? ['kit', 'bare'] : ['bare', 'kit'];
      for (const name of order) phases.push(await phase(name, round, dbUrl, path, product));
    }

    const kitBest = best(phases, 'kit');
    const bareBest = best(phases, 'bare');
    const ratio = kitBest.reqPerSec / bareBest.reqPerSec;
    const rows = [
      [`server (best of ${settings.rounds})`, 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req'],
      ...[kitBest, bareBest].map((p) => [
        p.server === 'kit' ? 'kit (createApp, SHOP_MODULES)' : 'bare Express 5 + pg',
        fmt(p.reqPerSec, 0),
        fmt(p.p50, 0),
        fmt(p.p99, 0),
        fmt(p.cpuUsPerReq, 0),
      ]),
    ];
    console.log(`\n${table(rows)}\n`);
    const perRound = Array.from({ length: settings.rounds }, (_, i) => {
      const k = phases.find((p) => p.round === i + 1 && p.server === 'kit')!;
      const b = phases.find((p) => p.round === i + 1 && p.server === 'bare')!;
      return fmt(k.reqPerSec / b.reqPerSec, 2);
    });
    console.log(`ratio kit/bare (req/s): ${fmt(ratio, 2)}  (per round: ${perRound.join(', ')})  goal >= ${GOAL}: ${ratio >= GOAL ? 'met' : 'NOT met'}`);
    const cpuMedian = (name: ServerName) => median(phases.filter((p) => p.server === name).map((p) => p.cpuUsPerReq));
    console.log(
      `server CPU per request (median): kit ${fmt(cpuMedian('kit'), 0)} µs, bare ${fmt(cpuMedian('bare'), 0)} µs ` +
        `(kit/bare ${fmt(cpuMedian('kit') / cpuMedian('bare'), 2)})`,
    );
    console.log(`load average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
    return 0;
  } finally {
    killAll();
    await dropDatabase();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    void dropDatabase().finally(() => process.exit(130));
  });
}
process.once('exit', killAll);

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    killAll();
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
