/**
 * `npm run bench:http`: GET /api/catalog/products/:id through the kit against
 * a bare Express 5 + pg handler running the same query, on PostgreSQL.
 *
 * The kit runs in two modes, each compared with the same bare server:
 *   production   NODE_ENV=production, as deployed (the nested-database check is off);
 *   development  NODE_ENV unset, the default of `npm start` (the check is on: an
 *                AsyncLocalStorage, whose promise hook costs every promise on Node 20).
 * A third, `traced`, runs only when BENCH_MODES names it: production with
 * OTEL_EXPORTER_OTLP_ENDPOINT set to a sink the bench starts (a child process
 * that answers every export 200), so every request is a span exported over
 * OTLP/HTTP. It has no goal: its figure is the price of tracing (ADR 0016).
 * The bare server runs with NODE_ENV=production. Goal: each mode serves at least
 * 0.9× the bare server's requests per second. Exit code 2 when a mode misses it,
 * 1 when the bench fails.
 *
 * Each server runs in a child process of its own; autocannon runs here, so the
 * load generator never shares an event loop with the server it measures. The
 * servers run side by side on the same fresh database and product, but only
 * one is loaded at a time: after a warm-up, the load rotates between them in
 * short slices (changing who goes first), so a drift of a shared machine
 * (another process, a noisy neighbour of the VM) hits all alike instead of
 * deciding a ratio. Each server's figure is its requests over its loaded time.
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test);
 *                       the bench creates and drops its own database mmk_bench_<pid> next to it
 *   BENCH_DURATION      measured seconds per server and round (default 10)
 *   BENCH_SLICE         seconds per load slice (default 2)
 *   BENCH_ROUNDS        rounds, each with a fresh pair of server processes (default 5);
 *                       the ratio is the median of the rounds' ratios
 *   BENCH_WARMUP        warm-up seconds per server and round before measuring (default 5)
 *   BENCH_CONNECTIONS   concurrent connections (default 50)
 *   BENCH_MODES         the kit's modes to run, comma-separated: production, development, traced
 *                       (default production,development)
 *   DATABASE_POOL_MAX   the kit's per-module pool (default 5); the bare pool gets the same max
 *   BENCH_NODE_ARGS     extra node flags for every server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_SERVER_OUTPUT a folder: each server's stdout and stderr go to <folder>/<server>-<pid>.log
 *                       as well (e.g. with BENCH_NODE_ARGS=--trace-gc)
 *   Other settings of the kit in the environment reach both of its modes; e.g.
 *   DATABASE_NESTING_CHECK=off BENCH_MODES=development isolates the nesting check.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { withAdminClient, withDatabase } from './bench-database.js';
import { fmt, median, table } from './bench-format.js';
import { intEnv } from './bench-env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const GOAL = 0.9;
const MODES = ['production', 'development', 'traced'] as const;
type Mode = (typeof MODES)[number];
/** The modes held to the goal; `traced` is measured, not judged. */
const JUDGED: readonly Mode[] = ['production', 'development'];

function selectedModes(): Mode[] {
  const names = (process.env.BENCH_MODES || JUDGED.join(',')).split(',').map((m) => m.trim()).filter(Boolean);
  for (const name of names) if (!MODES.includes(name as Mode)) throw new Error(`BENCH_MODES: unknown mode "${name}" (use ${MODES.join(', ')})`);
  return MODES.filter((m) => names.includes(m));
}

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  duration: intEnv('BENCH_DURATION', 10),
  slice: intEnv('BENCH_SLICE', 2),
  rounds: intEnv('BENCH_ROUNDS', 5),
  warmup: intEnv('BENCH_WARMUP', 5, 0),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  poolMax: intEnv('DATABASE_POOL_MAX', 5),
  nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  serverOutput: process.env.BENCH_SERVER_OUTPUT || undefined,
  modes: selectedModes(),
};

type ServerName = 'bare' | `kit-${Mode}`;

/** One load slice against one server. */
interface Slice {
  server: ServerName;
  requests: number;
  /** Seconds the slice really lasted. */
  seconds: number;
  p50: number;
  p99: number;
  /** Server process CPU time (user + system) during the slice, µs. */
  cpuUs: number;
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
  // The bare server and the kit's production mode run as deployed, NODE_ENV=production (for
  // the kit, that turns the development-only nested-database check off; Express itself
  // barely looks at it); the kit's development mode runs without NODE_ENV, like `npm start`.
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production', BENCH_DB_URL: dbUrl, BENCH_POOL_MAX: String(settings.poolMax) };
  if (name === 'kit-development') delete env.NODE_ENV;
  if (name === 'kit-traced') env.OTEL_EXPORTER_OTLP_ENDPOINT = sink!.url;
  const file = name === 'bare' ? 'bare-server.ts' : 'kit-server.ts';
  const child = spawn(process.execPath, [...settings.nodeArgs, '--import', 'tsx', join(ROOT, 'bench', file)], {
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
  if (settings.serverOutput) {
    mkdirSync(settings.serverOutput, { recursive: true });
    const file = createWriteStream(join(settings.serverOutput, `${name}-${child.pid}.log`));
    file.on('error', (error) => console.error(`BENCH_SERVER_OUTPUT: ${error.message}`));
    // Both pipes feed one file: it ends when the child is gone, not with the first pipe.
    child.stdout!.pipe(file, { end: false });
    child.stderr!.pipe(file, { end: false });
    child.once('close', () => file.end());
  }
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

/** The OTLP sink of the traced mode: a child process that reads every export and answers 200. */
const SINK_SCRIPT = `
let exports = 0, bytes = 0;
const server = require('node:http').createServer((req, res) => {
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.on('end', () => { exports += 1; res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
});
server.listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port }));
process.on('message', () => process.send({ type: 'stats', exports, bytes }));
`;

let sink: { child: ChildProcess; url: string } | undefined;

async function startSink(): Promise<void> {
  const child = spawn(process.execPath, ['-e', SINK_SCRIPT], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (message: { port: number }) => resolve(message.port));
  });
  sink = { child, url: `http://127.0.0.1:${port}` };
}

async function sinkStats(): Promise<{ exports: number; bytes: number }> {
  return new Promise((resolve) => {
    sink!.child.once('message', (message: { exports: number; bytes: number }) => resolve(message));
    sink!.child.send('stats');
  });
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

async function slice(server: RunningServer, path: string): Promise<Slice> {
  const cpuBefore = await cpuOf(server);
  const result = await load(server, path, settings.slice);
  const cpuAfter = await cpuOf(server);
  return {
    server: server.name,
    requests: result.requests.total,
    // autocannon's per-second average drifts when a sampling tick is late on a busy machine.
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs: cpuAfter - cpuBefore,
  };
}

async function checkAnswer(server: RunningServer, path: string, expected: unknown): Promise<void> {
  const body = await getJson(`${server.url}${path}`);
  if (!isDeepStrictEqual(body, expected)) {
    throw new Error(`${server.name} answered ${JSON.stringify(body)}, expected ${JSON.stringify(expected)}`);
  }
}

// ---------------------------------------------------------------- report

interface Summary {
  reqPerSec: number;
  requests: number;
  p50: number;
  p99: number;
  cpuUsPerReq: number;
}

function summarize(slices: Slice[], name: ServerName): Summary {
  const mine = slices.filter((s) => s.server === name);
  const requests = mine.reduce((sum, s) => sum + s.requests, 0);
  return {
    reqPerSec: requests / mine.reduce((sum, s) => sum + s.seconds, 0),
    requests,
    p50: median(mine.map((s) => s.p50)),
    p99: median(mine.map((s) => s.p99)),
    cpuUsPerReq: mine.reduce((sum, s) => sum + s.cpuUs, 0) / requests,
  };
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

/** The order of the servers in slice set `k`: rotated, and every other set reversed, so none is always first or last. */
function sliceOrder(names: readonly ServerName[], k: number): ServerName[] {
  const shift = k % names.length;
  const rotated = [...names.slice(shift), ...names.slice(0, shift)];
  return k % 2 === 1 ? rotated.reverse() : rotated;
}

const MODE_LABELS: Record<Mode, string> = {
  production: 'kit, production (NODE_ENV=production)',
  development: 'kit, development default (NODE_ENV unset)',
  traced: 'kit, production, tracing on (OTLP to a sink)',
};

async function main(): Promise<number> {
  const dbUrl = withDatabase(settings.baseUrl, dbName);
  const kits = settings.modes.map((mode) => `kit-${mode}` as const);
  const names: ServerName[] = [...kits, 'bare'];
  console.log(
    `bench:http  GET /api/catalog/products/:id  kit (${settings.modes.join(', ')}) vs bare Express 5 + pg (production)\n` +
      `  node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}, database ${dbName}\n` +
      `  ${settings.connections} connections, ${settings.warmup} s warm-up + ${settings.duration} s measured per server and round ` +
      `in ${settings.slice} s slices, ${settings.rounds} rounds, pool max ${settings.poolMax} (kit catalog pool and bare pg.Pool)` +
      `${process.env.DATABASE_NESTING_CHECK ? `\n  DATABASE_NESTING_CHECK=${process.env.DATABASE_NESTING_CHECK} (from the environment, both modes)` : ''}\n`,
  );

  if (settings.modes.includes('traced')) await startSink();
  await admin((c) => c.query(`create database "${dbName}"`));
  dbCreated = true;
  try {
    // The kit migrates the fresh database on start; one product, created through the kit's API.
    const seeder = await startServer(kits[0]!, dbUrl);
    let product: { id: string; sku: string; name: string; priceCents: number; stock: number };
    try {
      const response = await fetch(`${seeder.url}/api/catalog/products`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sku: 'BENCH-1', name: 'Benchmark mug', priceCents: 1250, stock: 1000 }),
      });
      if (response.status !== 201) throw new Error(`POST /api/catalog/products answered ${response.status}: ${await response.text()}`);
      product = (await response.json()) as typeof product;
    } finally {
      await stopServer(seeder);
    }
    const path = `/api/catalog/products/${product.id}`;

    const slices: Slice[] = [];
    const roundRatios = new Map<ServerName, number[]>(kits.map((kit) => [kit, []]));
    const sets = Math.max(1, Math.round(settings.duration / settings.slice));
    for (let round = 1; round <= settings.rounds; round++) {
      // Fresh processes every round: how a process happens to be placed and compiled
      // varies by ±20 % on a small VM, so no single set of processes decides.
      const servers = new Map<ServerName, RunningServer>();
      try {
        for (const name of names) servers.set(name, await startServer(name, dbUrl));
        for (const server of servers.values()) await checkAnswer(server, path, product);
        if (settings.warmup > 0) {
          for (const server of servers.values()) await load(server, path, settings.warmup);
        }
        const mine: Slice[] = [];
        for (let k = 0; k < sets; k++) {
          for (const name of sliceOrder(names, k + round)) mine.push(await slice(servers.get(name)!, path));
        }
        slices.push(...mine);
        const bare = summarize(mine, 'bare');
        const parts = kits.map((kit) => {
          const x = summarize(mine, kit);
          roundRatios.get(kit)!.push(x.reqPerSec / bare.reqPerSec);
          return `${kit} ${fmt(x.reqPerSec, 0).padStart(6)} req/s ${fmt(x.cpuUsPerReq, 0).padStart(4)} µs CPU/req (${fmt(x.reqPerSec / bare.reqPerSec, 2)})`;
        });
        console.log(`  round ${round}  ${parts.join('   ')}   bare ${fmt(bare.reqPerSec, 0).padStart(6)} req/s ${fmt(bare.cpuUsPerReq, 0).padStart(4)} µs CPU/req`);
      } finally {
        await Promise.all([...servers.values()].map(stopServer));
      }
    }

    const bare = summarize(slices, 'bare');
    const rows = [
      [`server (${settings.rounds} rounds x ${sets} slices of ${settings.slice} s)`, 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req'],
      ...[...settings.modes.map((mode) => [MODE_LABELS[mode], summarize(slices, `kit-${mode}`)] as const), ['bare Express 5 + pg (production)', bare] as const].map(
        ([label, x]) => [label, fmt(x.reqPerSec, 0), fmt(x.p50, 0), fmt(x.p99, 0), fmt(x.cpuUsPerReq, 0)],
      ),
    ];
    console.log(`\n${table(rows[0]!, rows.slice(1))}\n`);
    const missed: string[] = [];
    for (const mode of settings.modes) {
      const kit = `kit-${mode}` as const;
      const x = summarize(slices, kit);
      const ratios = roundRatios.get(kit)!;
      const ratio = median(ratios);
      const judged = JUDGED.includes(mode);
      if (judged && !(ratio >= GOAL)) missed.push(`${kit}: ${fmt(ratio, 3)} of bare, goal >= ${GOAL}`);
      console.log(
        `${kit} / bare (req/s, median of rounds): ${fmt(ratio, 3)}  (rounds: ${ratios.map((r) => fmt(r, 2)).join(', ')}; ` +
          `all slices pooled: ${fmt(x.reqPerSec / bare.reqPerSec, 2)})  ${judged ? `goal >= ${GOAL}: ${ratio >= GOAL ? 'met' : 'MISSED'}` : 'no goal'}` +
          `; server CPU per request ${fmt(x.cpuUsPerReq, 0)} µs against ${fmt(bare.cpuUsPerReq, 0)} (${fmt(x.cpuUsPerReq / bare.cpuUsPerReq, 2)}×)`,
      );
    }
    if (sink) {
      const { exports, bytes } = await sinkStats();
      console.log(`OTLP sink (traced mode): ${exports} exports, ${fmt(bytes / 1e6, 1)} MB received`);
    }
    console.log(`load average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
    if (missed.length === 0) return 0;
    console.log(`\nGOAL MISSED (exit code 2):\n${missed.map((m) => `  - ${m}`).join('\n')}`);
    return 2;
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
