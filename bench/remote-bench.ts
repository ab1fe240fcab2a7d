/**
 * `npm run bench:remote`: what it costs when a module runs in another process,
 * each figure against its baseline in the same run, on PostgreSQL:
 *
 *   1. local    catalog's `getProduct` through `localBinding` (zod validation of
 *               the input included) on an in-memory implementation, against a
 *               direct call of the same function; in this process, before any
 *               child starts. Goal: at most 2 µs added per call.
 *   2. remote   `getProduct` as orders calls it when catalog runs elsewhere
 *               (`remoteBinding` + `RemoteModule`: undici pool, cockatiel
 *               timeout/retry/breaker, HS256 service token) on a child process
 *               of the kit running `MODULES=catalog`, against the same call in
 *               this process through the binding the kit gives orders when
 *               catalog is local (`createApp` with every module local on the
 *               same database: `localBinding` on the real catalog service and
 *               its pool). One caller: p50/p99; goal: the p50 adds at most
 *               1 ms. 50 concurrent callers: calls/s (no goal).
 *   3. internal the catalog process's `POST /internal/catalog/getProduct`
 *               under autocannon (valid token, the same JSON body) against a
 *               bare node:http + pg server doing the same query and answering
 *               the same JSON (bench/bare-internal-server.ts). Goal: >= 0.5×
 *               the bare req/s.
 *   4. gateway  `GET /api/catalog/products/:id` through a gateway process
 *               (`MODULES=orders,payments,shipping`, `SERVICE_URL_CATALOG` =
 *               the catalog process) against the same request sent straight
 *               to the catalog process. Goal: >= 0.6× the direct req/s. Also the
 *               gateway's CPU µs per proxied request.
 *
 * The children (catalog service, gateway, bare internal server) run side by
 * side for the whole run, each on a free port of its own, `NODE_ENV=production`
 * as deployed, on a fresh database mmk_rbench_<pid>, BullMQ on a queue prefix
 * of their own (mmk-rbench-<pid>, whose Redis keys are deleted at the end).
 * The load generator (this process) never shares an event loop with a server
 * it measures, except in part 2 where the caller is the point. Baseline and
 * kit are loaded one at a time, in short slices whose order rotates, so a
 * drift of a shared machine hits both alike.
 *
 * Exit code 2 when a goal is missed, 1 when the bench fails (an error, a
 * non-2xx answer, a wrong answer, a child that does not start).
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test);
 *                       the bench creates and drops mmk_rbench_<pid> next to it
 *   BENCH_REDIS_URL     Redis of the children's BullMQ bus (default redis://127.0.0.1:6379)
 *   BENCH_PARTS         parts to run, comma-separated (default local,remote,internal,gateway)
 *   BENCH_LOCAL_CALLS   calls per timed block in part 1 (default 200000)
 *   BENCH_LOCAL_BLOCKS  timed blocks per side in part 1 (default 10)
 *   BENCH_DURATION      measured seconds per side in parts 2 (each of latency and
 *                       throughput), 3 and 4 (default 10)
 *   BENCH_SLICE         seconds per load slice (default 2)
 *   BENCH_WARMUP        warm-up seconds per side before measuring (default 3)
 *   BENCH_CONNECTIONS   autocannon connections in parts 3 and 4 (default 50)
 *   BENCH_CALLERS       concurrent callers of part 2's throughput (default 50)
 *   DATABASE_POOL_MAX   the kit's per-module pool (default 5); the bare pool and this process's app get the same
 *   BENCH_NODE_ARGS     extra node flags for every child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import { createApp, createLogger, loadConfig, localBinding, type App, type CallContext } from '../src/kernel/index.js';
import { createMetrics } from '../src/kernel/health/metrics.js';
import { remoteBinding } from '../src/kernel/remote/remote-binding.js';
import { RemoteModule } from '../src/kernel/remote/remote-module.js';
import { ServiceTokenIssuer } from '../src/kernel/remote/service-token.js';
import { SHOP_MODULES } from '../src/app.js';
import { catalogApi, catalogContract, type CatalogApi, type Product } from '../src/modules/catalog/index.js';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv, partsEnv } from './bench-env.js';
import { fmt, median, table } from './bench-format.js';
import { busyProcesses, CpuMeter, type CpuSnapshot } from './cpu-usage.js';
import { dropRedisKeys } from './bench-redis.js';
import { freePorts } from './bench-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['local', 'remote', 'internal', 'gateway'] as const;

const GOALS = { localOverheadNs: 2_000, remoteAddedP50Ms: 1, internalRatio: 0.5, gatewayRatio: 0.6 };

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  parts: partsEnv(PARTS),
  localCalls: intEnv('BENCH_LOCAL_CALLS', 200_000),
  localBlocks: intEnv('BENCH_LOCAL_BLOCKS', 10),
  duration: intEnv('BENCH_DURATION', 10),
  slice: intEnv('BENCH_SLICE', 2),
  warmup: intEnv('BENCH_WARMUP', 3, 0),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  callers: intEnv('BENCH_CALLERS', 50),
  poolMax: intEnv('DATABASE_POOL_MAX', 5),
  nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
};

const SECRET = `bench-remote-${process.pid}-${'x'.repeat(32)}`;
const dbName = `mmk_rbench_${process.pid}`;
const queuePrefix = `mmk-rbench-${process.pid}`;
const sets = Math.max(1, Math.round(settings.duration / settings.slice));
const load = () => loadavg().map((l) => fmt(l, 2)).join(' ');

/** The order of the sides in slice set `k`: alternating, so neither is always first. */
function sliceOrder<T>(names: readonly T[], k: number): T[] {
  const shift = k % names.length;
  return [...names.slice(shift), ...names.slice(0, shift)];
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

// ---------------------------------------------------------------- part 1: in-process binding

const CONTEXT: CallContext = { correlationId: 'bench-remote' };

function benchProducts(n: number): Product[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`,
    sku: `BENCH-${i}`,
    name: `Benchmark product ${i}`,
    priceCents: 100 + i,
    stock: 1000,
  }));
}

/** Catalog's API on a Map: no I/O, so only the binding's cost differs between the two sides. */
function inMemoryCatalog(products: readonly Product[]): CatalogApi {
  const byId = new Map(products.map((p) => [p.id, p]));
  return {
    async getProduct({ id }) {
      return byId.get(id) ?? null;
    },
    async priceItems({ items }) {
      const priced = items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: byId.get(i.productId)?.priceCents ?? 0 }));
      return { items: priced, totalCents: priced.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0) };
    },
  };
}

type GetProduct = (input: { id: string }, context?: CallContext) => Promise<Product | null>;

/** ns per call of `n` awaited calls, one after the other, over 16 ids. */
async function timeCalls(call: GetProduct, inputs: ReadonlyArray<{ id: string }>, n: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const product = await call(inputs[i & 15]!, CONTEXT);
    if (product === null) throw new Error('getProduct found no product');
  }
  return Number(process.hrtime.bigint() - started) / n;
}

interface LocalResult {
  directNs: number[];
  boundNs: number[];
}

async function benchLocal(): Promise<LocalResult> {
  const products = benchProducts(16);
  const inputs = products.map((p) => ({ id: p.id }));
  const implementation = inMemoryCatalog(products);
  const bound = localBinding(catalogApi, implementation);
  const direct: GetProduct = (input, context) => implementation.getProduct(input, context);
  const viaBinding: GetProduct = (input, context) => bound.getProduct(input, context);
  // Same answers both ways, then a warm-up so both paths are compiled before timing.
  for (const input of inputs) {
    if (!isDeepStrictEqual(await direct(input), await viaBinding(input))) throw new Error('localBinding answered differently from the direct call');
  }
  await timeCalls(direct, inputs, settings.localCalls);
  await timeCalls(viaBinding, inputs, settings.localCalls);
  const result: LocalResult = { directNs: [], boundNs: [] };
  for (let k = 0; k < settings.localBlocks; k++) {
    for (const side of sliceOrder(['direct', 'bound'] as const, k)) {
      if (side === 'direct') result.directNs.push(await timeCalls(direct, inputs, settings.localCalls));
      else result.boundNs.push(await timeCalls(viaBinding, inputs, settings.localCalls));
    }
  }
  return result;
}

// ---------------------------------------------------------------- child processes

interface Child {
  name: string;
  child: ChildProcess;
  url: string;
  output: string[];
}

const children = new Set<ChildProcess>();


/** Starts `node --import tsx <script>` and resolves once it logged `{"msg":"started","port":…}`. */
function startChild(name: string, script: string, env: NodeJS.ProcessEnv, ipc: boolean): Promise<Child> {
  const child = spawn(process.execPath, [...settings.nodeArgs, '--import', 'tsx', script], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? (['ipc'] as const) : [])],
  });
  children.add(child);
  const output: string[] = [];
  const keep = (line: string) => {
    output.push(line);
    if (output.length > 40) output.splice(0, output.length - 40);
  };
  // Always drain both pipes: a chatty child must never block on a full pipe.
  createInterface({ input: child.stderr! }).on('line', keep);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`${name} did not start within 60 s`)), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(new Error(`${error.message}\n--- ${name} output ---\n${output.join('\n')}`));
    };
    child.once('exit', (code, signal) => fail(new Error(`${name} exited during start (code ${code}, signal ${signal})`)));
    child.once('error', fail);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line.slice(0, 500));
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg !== 'started' || typeof entry.port !== 'number') return;
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ name, child, url: `http://127.0.0.1:${entry.port}`, output });
      } catch {
        // not a log line
      }
    });
  });
}

async function stopChild(server: Child): Promise<void> {
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((done) => {
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(killer);
        done();
      });
      child.kill('SIGTERM');
    });
  }
  children.delete(child);
}

function killAll(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// ---------------------------------------------------------------- load helpers

/** CPU of a set of processes: µs of user + system time, read from /proc (the same way for every child). */
class CpuOf {
  private constructor(readonly meters: Map<string, CpuMeter>) {}

  static async open(pids: Record<string, number | undefined>): Promise<CpuOf> {
    const meters = new Map<string, CpuMeter>();
    for (const [name, pid] of Object.entries(pids)) meters.set(name, await CpuMeter.open({ pid }));
    return new CpuOf(meters);
  }

  async snapshot(): Promise<Map<string, CpuSnapshot>> {
    const out = new Map<string, CpuSnapshot>();
    for (const [name, meter] of this.meters) out.set(name, await meter.snapshot());
    return out;
  }

  static usedUs(before: Map<string, CpuSnapshot>, after: Map<string, CpuSnapshot>, name: string): number {
    const a = before.get(name)!.node;
    const b = after.get(name)!.node;
    return b.user + b.system - a.user - a.system;
  }
}

interface Slice {
  side: string;
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  /** CPU µs used during the slice, by process name. */
  cpuUs: Record<string, number>;
}

async function cannon(name: string, options: autocannon.Options, output: () => string): Promise<autocannon.Result> {
  const result = await autocannon({ connections: settings.connections, ...options });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) {
    throw new Error(`${name}: ${result.non2xx} non-2xx responses, ${result.errors} errors, ${result.timeouts} timeouts out of ${result.requests.total} requests\n${output()}`);
  }
  if (result.requests.total === 0) throw new Error(`${name}: no responses at all`);
  return result;
}

function summarize(slices: readonly Slice[], side: string) {
  const mine = slices.filter((s) => s.side === side);
  const requests = mine.reduce((sum, s) => sum + s.requests, 0);
  const cpu = (name: string) => mine.reduce((sum, s) => sum + (s.cpuUs[name] ?? 0), 0) / requests;
  return {
    reqPerSec: requests / mine.reduce((sum, s) => sum + s.seconds, 0),
    requests,
    p50: median(mine.map((s) => s.p50)),
    p99: median(mine.map((s) => s.p99)),
    cpu,
  };
}

/** Runs autocannon slices over `sides`, rotating their order; warms each up first. */
async function rotate(
  sides: ReadonlyArray<{ side: string; options: () => Promise<autocannon.Options>; output: () => string }>,
  cpu: CpuOf,
  processes: readonly string[],
): Promise<Slice[]> {
  if (settings.warmup > 0) for (const s of sides) await cannon(s.side, { ...(await s.options()), duration: settings.warmup }, s.output);
  const slices: Slice[] = [];
  for (let k = 0; k < sets; k++) {
    for (const s of sliceOrder(sides, k)) {
      const options = await s.options();
      const before = await cpu.snapshot();
      const result = await cannon(s.side, { ...options, duration: settings.slice }, s.output);
      const after = await cpu.snapshot();
      slices.push({
        side: s.side,
        requests: result.requests.total,
        seconds: result.duration,
        p50: result.latency.p50,
        p99: result.latency.p99,
        cpuUs: Object.fromEntries(processes.map((name) => [name, CpuOf.usedUs(before, after, name)])),
      });
    }
  }
  return slices;
}

// ---------------------------------------------------------------- part 2: remote call vs in-process call

interface CallerSlice {
  side: 'remote' | 'in-process';
  latenciesMs: number[];
  calls: number;
  seconds: number;
  cpuUs: Record<string, number>;
}

/** `callers` loops calling `call` back to back for `seconds`; latencies of every call when `record`. */
async function callFor(call: GetProduct, id: string, callers: number, seconds: number, record: boolean): Promise<{ calls: number; seconds: number; latenciesMs: number[] }> {
  const latenciesMs: number[] = [];
  let calls = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const input = { id };
  const loop = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const product = await call(input, CONTEXT);
      if (record) latenciesMs.push(performance.now() - t0);
      if (product === null || product.id !== id) throw new Error(`getProduct answered ${JSON.stringify(product)}`);
      calls++;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  return { calls, seconds: (performance.now() - started) / 1000, latenciesMs };
}

async function callerSlices(
  sides: Record<'remote' | 'in-process', GetProduct>,
  id: string,
  callers: number,
  cpu: CpuOf,
  processes: readonly string[],
  sliceSeconds: number,
): Promise<CallerSlice[]> {
  const names = ['remote', 'in-process'] as const;
  if (settings.warmup > 0) for (const side of names) await callFor(sides[side], id, callers, settings.warmup, false);
  const slices: CallerSlice[] = [];
  const count = Math.max(1, Math.round(settings.duration / sliceSeconds));
  for (let k = 0; k < count; k++) {
    for (const side of sliceOrder(names, k)) {
      const before = await cpu.snapshot();
      const run = await callFor(sides[side], id, callers, sliceSeconds, callers === 1);
      const after = await cpu.snapshot();
      slices.push({ side, ...run, cpuUs: Object.fromEntries(processes.map((name) => [name, CpuOf.usedUs(before, after, name)])) });
    }
  }
  return slices;
}

function callerSummary(slices: readonly CallerSlice[], side: CallerSlice['side']) {
  const mine = slices.filter((s) => s.side === side);
  const calls = mine.reduce((sum, s) => sum + s.calls, 0);
  const latencies = Float64Array.from(mine.flatMap((s) => s.latenciesMs)).sort();
  return {
    calls,
    perSec: calls / mine.reduce((sum, s) => sum + s.seconds, 0),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
    cpu: (name: string) => mine.reduce((sum, s) => sum + (s.cpuUs[name] ?? 0), 0) / calls,
  };
}

// ---------------------------------------------------------------- main

let dbCreated = false;

async function dropDatabase(): Promise<void> {
  if (!dbCreated) return;
  await withAdminClient(settings.baseUrl, (c) => c.query(`drop database if exists "${dbName}" with (force)`)).then(
    () => {
      dbCreated = false;
    },
    (error: unknown) => console.error(`could not drop database ${dbName}:`, error),
  );
}

const dropQueueKeys = () => dropRedisKeys(settings.redisUrl, queuePrefix);

const missed: string[] = [];
function verdict(text: string, ok: boolean): string {
  if (!ok) missed.push(text);
  return `${text}: ${ok ? 'met' : 'MISSED'}`;
}

function reportLocal(r: LocalResult): void {
  const direct = median(r.directNs);
  const bound = median(r.boundNs);
  const overhead = bound - direct;
  console.log(
    `\n1. in-process API call: catalog getProduct({ id }) on an in-memory Map, ${settings.localBlocks} blocks of ${fmt(settings.localCalls)} awaited calls per side, alternating\n\n` +
      table(
        ['call', 'ns/call (median of blocks)', 'fastest block', 'slowest block'],
        [
          ['direct: implementation.getProduct(input, context)', fmt(direct), fmt(Math.min(...r.directNs)), fmt(Math.max(...r.directNs))],
          ['localBinding(catalogApi, implementation).getProduct (zod input check)', fmt(bound), fmt(Math.min(...r.boundNs)), fmt(Math.max(...r.boundNs))],
        ],
      ) +
      `\n\n${verdict(`localBinding adds ${fmt(overhead)} ns = ${fmt(overhead / 1000, 2)} µs per call, goal <= ${GOALS.localOverheadNs / 1000} µs`, overhead <= GOALS.localOverheadNs)}`,
  );
}

async function main(): Promise<number> {
  console.log(
    `bench:remote  module API calls in process and over loopback, the internal endpoint, the gateway\n` +
      `  node ${process.version}, ${availableParallelism()} cores, load average ${load()}, database ${dbName}, queue prefix ${queuePrefix}\n` +
      `  parts ${settings.parts.join(', ')}; ${settings.warmup} s warm-up + ${settings.duration} s measured per side in ${settings.slice} s slices; ` +
      `${settings.connections} autocannon connections, ${settings.callers} concurrent callers, pool max ${settings.poolMax}\n` +
      `  other busy processes now: ${busyProcesses() || 'none'}`,
  );

  if (settings.parts.includes('local')) reportLocal(await benchLocal());
  if (!settings.parts.some((p) => p !== 'local')) return missed.length === 0 ? 0 : 2;

  await withAdminClient(settings.baseUrl, (c) => c.query(`create database "${dbName}"`));
  dbCreated = true;
  const dbUrl = withDatabase(settings.baseUrl, dbName);
  const running: Child[] = [];
  let localApp: App | undefined;
  let remote: RemoteModule | undefined;
  try {
    const [catalogPort, gatewayPort, barePort] = (await freePorts(3)) as [number, number, number];
    const kitEnv: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      // The bench's Redis keeps nothing on disk, which production mode otherwise refuses.
      REDIS_VOLATILE_OK: 'true',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: '0',
      DATABASE_URL: dbUrl,
      DATABASE_POOL_MAX: String(settings.poolMax),
      EVENT_BUS: 'bullmq',
      REDIS_URL: settings.redisUrl,
      EVENT_QUEUE_PREFIX: queuePrefix,
      SERVICE_TOKEN_SECRET: SECRET,
    };
    // Catalog first (it migrates its schema), then the gateway that runs the three other modules.
    const catalog = await startChild(
      'catalog service (MODULES=catalog)',
      'src/main.ts',
      {
        ...kitEnv,
        PORT: String(catalogPort),
        MODULES: 'catalog',
        SERVICE_URL_ORDERS: `http://127.0.0.1:${gatewayPort}`,
        SERVICE_URL_PAYMENTS: `http://127.0.0.1:${gatewayPort}`,
        SERVICE_URL_SHIPPING: `http://127.0.0.1:${gatewayPort}`,
      },
      false,
    );
    running.push(catalog);
    const gateway = await startChild(
      'gateway (MODULES=orders,payments,shipping)',
      'src/main.ts',
      { ...kitEnv, PORT: String(gatewayPort), MODULES: 'orders,payments,shipping', SERVICE_URL_CATALOG: catalog.url },
      false,
    );
    running.push(gateway);
    const bare = await startChild(
      'bare node:http + pg',
      join('bench', 'bare-internal-server.ts'),
      { ...process.env, NODE_ENV: 'production', BENCH_DB_URL: dbUrl, BENCH_POOL_MAX: String(settings.poolMax), BENCH_PORT: String(barePort) },
      true,
    );
    running.push(bare);
    const outputOf = (c: Child) => () => `--- ${c.name} output ---\n${c.output.join('\n')}`;

    const created = await fetch(`${catalog.url}/api/catalog/products`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'RBENCH-1', name: 'Benchmark mug', priceCents: 1250, stock: 1000 }),
    });
    if (created.status !== 201) throw new Error(`POST /api/catalog/products answered ${created.status}: ${await created.text()}`);
    const product = (await created.json()) as Product;
    const path = `/api/catalog/products/${product.id}`;
    const body = JSON.stringify({ id: product.id });

    // The caller side of part 2: orders' view of catalog in each topology, in this process.
    const tokens = new ServiceTokenIssuer(SECRET);
    const logger = createLogger('silent');
    remote = new RemoteModule({ contract: catalogContract, url: catalog.url, timeoutMs: 2_000, halfOpenAfterMs: 5_000, tokens, metrics: createMetrics(), logger });
    const remoteCatalog = remoteBinding(catalogApi, remote, 'orders');
    localApp = await createApp({
      modules: SHOP_MODULES,
      config: loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', DATABASE_URL: dbUrl, DATABASE_POOL_MAX: String(settings.poolMax) }),
      logger,
    });
    const localCatalog = localApp.container.get<CatalogApi>(catalogApi.token);

    // Every path answers the same product before anything is measured.
    const internalAnswer = async (url: string) => {
      const res = await fetch(`${url}/internal/catalog/getProduct`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokens.tokenFor('orders', 'catalog')}` },
        body,
      });
      if (res.status !== 200) throw new Error(`${url}/internal/catalog/getProduct answered ${res.status}: ${await res.text()}`);
      return { type: res.headers.get('content-type'), body: await res.json() };
    };
    const checks: Array<[string, unknown]> = [
      ['remote call', await remoteCatalog.getProduct({ id: product.id }, CONTEXT)],
      ['in-process call', await localCatalog.getProduct({ id: product.id }, CONTEXT)],
      ['internal endpoint', (await internalAnswer(catalog.url)).body],
      ['bare internal server', (await internalAnswer(bare.url)).body],
      ['GET via the gateway', await (await fetch(`${gateway.url}${path}`)).json()],
      ['GET from catalog', await (await fetch(`${catalog.url}${path}`)).json()],
    ];
    for (const [what, answer] of checks) {
      if (!isDeepStrictEqual(answer, product)) throw new Error(`${what} answered ${JSON.stringify(answer)}, expected ${JSON.stringify(product)}`);
    }
    const types = [(await internalAnswer(catalog.url)).type, (await internalAnswer(bare.url)).type];
    if (types[0] !== types[1]) throw new Error(`content types differ: kit ${types[0]}, bare ${types[1]}`);

    const cpu = await CpuOf.open({ bench: process.pid, catalog: catalog.child.pid, gateway: gateway.child.pid, bare: bare.child.pid });

    if (settings.parts.includes('remote')) {
      const sides = {
        remote: (input: { id: string }, context?: CallContext) => remoteCatalog.getProduct(input, context),
        'in-process': (input: { id: string }, context?: CallContext) => localCatalog.getProduct(input, context),
      };
      const one = await callerSlices(sides, product.id, 1, cpu, ['bench', 'catalog'], 1);
      const many = await callerSlices(sides, product.id, settings.callers, cpu, ['bench', 'catalog'], settings.slice);
      const r1 = callerSummary(one, 'remote');
      const l1 = callerSummary(one, 'in-process');
      const rN = callerSummary(many, 'remote');
      const lN = callerSummary(many, 'in-process');
      const cpuCell = (x: ReturnType<typeof callerSummary>, remoteSide: boolean) =>
        `${fmt(x.cpu('bench'))}${remoteSide ? ` + ${fmt(x.cpu('catalog'))}` : ''}`;
      console.log(
        `\n2. getProduct as orders calls it: remoteBinding + RemoteModule over loopback to the catalog process (MODULES=catalog), ` +
          `against localBinding on the real catalog service in this process (createApp, every module local); same database, pool max ${settings.poolMax}\n\n` +
          table(
            ['call', '1 caller: p50 ms', 'p99 ms', 'mean ms', 'calls', `${settings.callers} callers: calls/s`, 'Node CPU µs/call (caller + catalog process)'],
            [
              ['remote (POST /internal/catalog/getProduct)', fmt(r1.p50, 3), fmt(r1.p99, 3), fmt(r1.mean, 3), fmt(r1.calls), fmt(rN.perSec), cpuCell(rN, true)],
              ['in-process (localBinding, same DB)', fmt(l1.p50, 3), fmt(l1.p99, 3), fmt(l1.mean, 3), fmt(l1.calls), fmt(lN.perSec), cpuCell(lN, false)],
            ],
          ) +
          `\n\n(one caller: ${Math.round(settings.duration)} s per side in 1 s slices; ${settings.callers} callers: ${settings.duration} s per side in ${settings.slice} s slices; ` +
          `CPU columns from the ${settings.callers}-caller slices)\n` +
          `remote / in-process calls/s with ${settings.callers} callers: ${fmt(rN.perSec / lN.perSec, 2)}\n` +
          verdict(`remote call adds ${fmt(r1.p50 - l1.p50, 3)} ms to the p50 (${fmt(r1.p50, 3)} against ${fmt(l1.p50, 3)} ms), goal <= ${GOALS.remoteAddedP50Ms} ms`, r1.p50 - l1.p50 <= GOALS.remoteAddedP50Ms),
      );
    }

    if (settings.parts.includes('internal')) {
      const post = async (url: string): Promise<autocannon.Options> => ({
        url: `${url}/internal/catalog/getProduct`,
        method: 'POST',
        // A token of the kit's own issuer, renewed before it expires (it lives 60 s); the bare server ignores it.
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokens.tokenFor('orders', 'catalog')}`, 'x-request-id': 'bench-remote' },
        body,
      });
      const slices = await rotate(
        [
          { side: 'kit', options: () => post(catalog.url), output: outputOf(catalog) },
          { side: 'bare', options: () => post(bare.url), output: outputOf(bare) },
        ],
        cpu,
        ['catalog', 'bare'],
      );
      const kit = summarize(slices, 'kit');
      const base = summarize(slices, 'bare');
      const ratio = kit.reqPerSec / base.reqPerSec;
      console.log(
        `\n3. POST /internal/catalog/getProduct {"id": …}, ${settings.connections} connections, valid token: the catalog process against a bare node:http + pg server\n` +
          `   kit: route lookup, token check (HS256, verified once then cached), content-type check, body read, JSON.parse, zod input check,\n` +
          `        catalog getProduct (SQL on its pool), JSON answer, x-request-id echoed, duration histogram\n` +
          `   bare: body read, JSON.parse, the same SQL on a pg.Pool of the same size, the same JSON answer and headers; no token check, no validation, no metrics\n\n` +
          table(
            ['server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req'],
            [
              ['kit catalog process, internal endpoint', fmt(kit.reqPerSec), fmt(kit.p50), fmt(kit.p99), fmt(kit.cpu('catalog'))],
              ['bare node:http + pg', fmt(base.reqPerSec), fmt(base.p50), fmt(base.p99), fmt(base.cpu('bare'))],
            ],
          ) +
          `\n\n${verdict(`internal endpoint / bare: ${fmt(ratio, 3)} of the req/s (CPU per request ${fmt(kit.cpu('catalog') / base.cpu('bare'), 2)}×), goal >= ${GOALS.internalRatio}`, ratio >= GOALS.internalRatio)}`,
      );
    }

    if (settings.parts.includes('gateway')) {
      const slices = await rotate(
        [
          { side: 'gateway', options: async () => ({ url: `${gateway.url}${path}` }), output: () => `${outputOf(gateway)()}\n${outputOf(catalog)()}` },
          { side: 'direct', options: async () => ({ url: `${catalog.url}${path}` }), output: outputOf(catalog) },
        ],
        cpu,
        ['gateway', 'catalog'],
      );
      const viaGateway = summarize(slices, 'gateway');
      const direct = summarize(slices, 'direct');
      const ratio = viaGateway.reqPerSec / direct.reqPerSec;
      // The gateway runs orders, payments and shipping (relays, BullMQ workers, the lag monitor): its CPU while idle.
      const directSlices = slices.filter((s) => s.side === 'direct');
      const idleGatewayUsPerSec = directSlices.reduce((sum, s) => sum + s.cpuUs.gateway!, 0) / directSlices.reduce((sum, s) => sum + s.seconds, 0);
      console.log(
        `\n4. GET ${'/api/catalog/products/:id'}, ${settings.connections} connections: through the gateway process (MODULES=orders,payments,shipping, SERVICE_URL_CATALOG) ` +
          `against straight to the catalog process\n\n` +
          table(
            ['path', 'req/s', 'p50 ms', 'p99 ms', 'gateway CPU µs/req', 'catalog CPU µs/req'],
            [
              ['client → gateway → catalog', fmt(viaGateway.reqPerSec), fmt(viaGateway.p50), fmt(viaGateway.p99), fmt(viaGateway.cpu('gateway')), fmt(viaGateway.cpu('catalog'))],
              ['client → catalog', fmt(direct.reqPerSec), fmt(direct.p50), fmt(direct.p99), '-', fmt(direct.cpu('catalog'))],
            ],
          ) +
          `\n\n${verdict(`gateway / direct: ${fmt(ratio, 3)} of the req/s, goal >= ${GOALS.gatewayRatio}`, ratio >= GOALS.gatewayRatio)}; ` +
          `the gateway spends ${fmt(viaGateway.cpu('gateway'))} µs of CPU per proxied request ` +
          `(of which about ${fmt(idleGatewayUsPerSec / viaGateway.reqPerSec)} µs its own background work: ` +
          `${fmt(idleGatewayUsPerSec / 1000, 1)} ms of CPU per second while idle, measured during the direct slices)`,
      );
    }
    for (const meter of cpu.meters.values()) await meter.close();
  } finally {
    await localApp?.stop().catch((error: unknown) => console.error('stopping the in-process app:', error));
    await remote?.close().catch(() => undefined);
    await Promise.all(running.map(stopChild));
    killAll();
    await dropDatabase();
    await dropQueueKeys();
  }

  console.log(`\nload average at the end: ${load()}; other busy processes now: ${busyProcesses() || 'none'}`);
  if (missed.length === 0) return 0;
  console.log(`\nGOAL MISSED (exit code 2):\n${missed.map((m) => `  - ${m}`).join('\n')}`);
  return 2;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    void Promise.all([dropDatabase(), dropQueueKeys()]).finally(() => process.exit(130));
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
