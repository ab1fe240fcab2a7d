/**
 * `npm run bench:saga`: the shop's real order saga under sustained HTTP load,
 * on PostgreSQL, on both transports: the code of this tree side by side with
 * a baseline, the code of commit BENCH_BASELINE_REF (b2feb22, the main
 * branch before issues 9 and 10) checked out in a temporary git worktree, in
 * one run.
 *
 * The shop runs as `npm start` runs it (src/main.ts, NODE_ENV=production) in
 * a child process on a fresh database, with BENCH_PRODUCTS products of
 * plenty of stock and BENCH_WALLETS rich wallets, so every order confirms.
 * This process keeps BENCH_IN_FLIGHT `POST /api/orders` in flight for
 * BENCH_SECONDS (closed loop: an answer, 202 or 429, frees the slot for the
 * next order at once, the worst case for the server), then waits until every
 * accepted order settled. It reports:
 *   - accepted/s and refused/s (429; each refusal must carry Retry-After),
 *   - settled/s during the load, and the backlog (pending orders) when the
 *     load stops, also in seconds of accepts,
 *   - 202 → settled p50/p99 of every BENCH_SAMPLE_EVERY-th accepted order
 *     (polled with GET /api/orders/:id, every 25 ms at first, then at 5 % of
 *     the time waited so far, so slow settlements do not flood the server),
 *   - the event lag the kit reported (/metrics event_lag_seconds, sampled),
 *   - CPU µs per settled order of the shop process, the PostgreSQL backends
 *     of its database and Redis, from the first order to the last settlement.
 *
 * Goals (issue 10), checked for the kit's defaults; the bench exits 2 when one
 * is missed: p99 202 → settled ≤ 5 s; backlog when the load stops ≤ 5 s of
 * accepts; every 429 with Retry-After; settled/s ≥ 2 × the issue's figures
 * (102/s memory bus, 84/s BullMQ).
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test);
 *                       databases mmk_sagabench_<pid>_<n> are created next to it and dropped
 *   BENCH_REDIS_URL     Redis for the BullMQ runs (default redis://127.0.0.1:6379); keys under
 *                       mmk-sagabench-<pid>-<n>* are deleted at the end
 *   BENCH_BUSES         comma list of memory,bullmq (default both)
 *   BENCH_VARIANTS      comma list of baseline,kit (default both)
 *   BENCH_SECONDS       seconds of load per run (default 30)
 *   BENCH_IN_FLIGHT     orders in flight (default 20)
 *   BENCH_PRODUCTS, BENCH_WALLETS  (default 20 each)
 *   BENCH_SAMPLE_EVERY  every n-th accepted order is timed to settlement (default 25)
 *   BENCH_BASELINE_REF  the baseline's commit (default b2feb22); without git history the baseline is skipped
 *   BENCH_SERVER_ENV    extra settings for the kit variant, e.g. "EVENT_HANDLER_CONCURRENCY=8 ADMISSION_MAX_LAG_MS=1000"
 *   BENCH_RETRY_AFTER   "honour": a refused slot waits Retry-After before its next order, as a polite client
 *                       does; default "ignore": it sends the next order at once (the worst case)
 *   BENCH_NODE_ARGS     extra node flags for the shop, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_SHOP_LOG      a file: every log line of the shops is appended to it (else only errors are shown)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv } from './bench-env.js';
import { CpuMeter, cpuPerUnit, formatCpu, type CpuPerUnit } from './cpu-usage.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const shopLog = process.env.BENCH_SHOP_LOG || undefined;

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  buses: list('BENCH_BUSES', ['memory', 'bullmq'] as const),
  variants: list('BENCH_VARIANTS', ['baseline', 'kit'] as const),
  seconds: intEnv('BENCH_SECONDS', 30),
  inFlight: intEnv('BENCH_IN_FLIGHT', 20),
  products: intEnv('BENCH_PRODUCTS', 20),
  wallets: intEnv('BENCH_WALLETS', 20),
  sampleEvery: intEnv('BENCH_SAMPLE_EVERY', 25),
  honourRetryAfter: process.env.BENCH_RETRY_AFTER === 'honour',
  serverEnv: Object.fromEntries((process.env.BENCH_SERVER_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
};

/** The issue's figures for the code before it (b2feb22), settled/s at saturation with 20 orders in flight. */
const ISSUE_SETTLED_PER_S = { memory: 102, bullmq: 84 } as const;
const GOAL = { p99Ms: 5_000, backlogSeconds: 5, capacityFactor: 2 };

type Bus = 'memory' | 'bullmq';
type Variant = 'baseline' | 'kit';

const BASELINE_REF = process.env.BENCH_BASELINE_REF || 'b2feb22';

/**
 * A checkout of the baseline commit in a temporary git worktree, sharing this
 * tree's node_modules; undefined (with the reason printed) without git history.
 */
function checkOutBaseline(): { root: string; remove(): void } | undefined {
  const root = mkdtempSync(join(tmpdir(), 'mmk-saga-baseline-'));
  try {
    execFileSync('git', ['worktree', 'add', '--detach', root, BASELINE_REF], { cwd: ROOT, stdio: 'pipe' });
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    console.log(`baseline skipped: cannot check out ${BASELINE_REF} (${String((error as { stderr?: Buffer }).stderr ?? error).trim().split('\n')[0]})`);
    return undefined;
  }
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return {
    root,
    remove() {
      execFileSync('git', ['worktree', 'remove', '--force', root], { cwd: ROOT, stdio: 'pipe' });
    },
  };
}

function list<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const values = raw.split(',').map((v) => v.trim());
  const bad = values.filter((v) => !all.includes(v as T));
  if (bad.length > 0) throw new Error(`${name}: unknown ${bad.join(', ')} (expected some of ${all.join(', ')})`);
  return values as T[];
}

interface Shop {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The shop of `root` as `npm start` runs it, in production mode; resolves once it listens. */
async function startShop(root: string, env: Record<string, string>): Promise<Shop> {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // REDIS_VOLATILE_OK: the bench's Redis keeps nothing on disk, which production mode otherwise refuses.
    env: { ...process.env, NODE_ENV: 'production', REDIS_VOLATILE_OK: 'true', LOG_LEVEL: 'info', PORT: '0', SHUTDOWN_GRACE_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (shopLog) appendFileSync(shopLog, `${line}\n`);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number; level?: number };
        if (entry.msg === 'started' && entry.port) resolve(entry.port);
        else if ((entry.level ?? 0) >= 50) process.stderr.write(`  shop: ${line.slice(0, 300)}\n`);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`the shop exited with ${code} before it listened: ${stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any; retryAfter: string | null }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') };
}

async function seed(url: string): Promise<{ products: string[]; customers: string[] }> {
  const products: string[] = [];
  for (let i = 0; i < settings.products; i += 1) {
    const res = await post(`${url}/api/catalog/products`, { sku: `bench-${i}-${randomUUID()}`, name: `Bench product ${i}`, priceCents: 100 + i, stock: 1_000_000 });
    if (res.status !== 201) throw new Error(`seeding a product: ${res.status} ${JSON.stringify(res.body)}`);
    products.push(res.body.id as string);
  }
  const customers: string[] = [];
  for (let i = 0; i < settings.wallets; i += 1) {
    const res = await post(`${url}/api/payments/wallets`, { customerId: `bench-${i}`, balanceCents: 1_000_000_000_000 });
    if (res.status !== 201) throw new Error(`seeding a wallet: ${res.status} ${JSON.stringify(res.body)}`);
    customers.push(res.body.customerId as string);
  }
  return { products, customers };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface RunResult {
  bus: Bus;
  variant: Variant;
  seconds: number;
  accepted: number;
  refused: number;
  refusedWithoutRetryAfter: number;
  errors: number;
  settledDuringLoad: number;
  backlogAtStop: number;
  drainSeconds: number;
  settleMs: number[];
  lagMs: number[];
  cpu: CpuPerUnit;
}

async function pendingOrders(client: pg.Client): Promise<{ pending: number; total: number }> {
  const { rows } = await client.query<{ pending: number; total: number }>(
    `select (count(*) filter (where status = 'pending'))::int as pending, count(*)::int as total from orders.orders`,
  );
  return rows[0]!;
}

async function eventLagMs(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^event_lag_seconds ([\d.e+-]+)$/m.exec(text);
  return match ? Number(match[1]) * 1000 : NaN;
}

async function run(bus: Bus, variant: Variant, root: string, n: number): Promise<RunResult> {
  const database = `mmk_sagabench_${process.pid}_${n}`;
  const prefix = `mmk-sagabench-${process.pid}-${n}`;
  await withAdminClient(settings.baseUrl, (c) => c.query(`create database "${database}"`));
  const databaseUrl = withDatabase(settings.baseUrl, database);
  const redis = bus === 'bullmq' ? new Redis(settings.redisUrl, { maxRetriesPerRequest: null }) : undefined;
  let shop: Shop | undefined;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench:saga' });
  try {
    shop = await startShop(root, {
      DATABASE_URL: databaseUrl,
      EVENT_BUS: bus,
      ...(bus === 'bullmq' ? { REDIS_URL: settings.redisUrl, EVENT_QUEUE_PREFIX: prefix } : {}),
      ...(variant === 'kit' ? settings.serverEnv : {}),
    });
    const { url } = shop;
    await client.connect();
    const { products, customers } = await seed(url);
    const meter = await CpuMeter.open({ pid: shop.child.pid, postgres: { url: settings.baseUrl, database }, redis });

    const result: RunResult = {
      bus, variant, seconds: settings.seconds, accepted: 0, refused: 0, refusedWithoutRetryAfter: 0, errors: 0,
      settledDuringLoad: 0, backlogAtStop: 0, drainSeconds: 0, settleMs: [], lagMs: [], cpu: undefined as unknown as CpuPerUnit,
    };
    const timings: Array<Promise<void>> = [];
    const before = await meter.snapshot();
    const started = performance.now();
    const deadline = started + settings.seconds * 1000;
    let next = 0;
    const order = () => {
      const i = next++;
      const count = 1 + (i % 3);
      const items = Array.from({ length: count }, (_, k) => ({ productId: products[(i * 7 + k * 3) % products.length]!, quantity: 1 + (k % 2) }));
      return { customerId: customers[i % customers.length]!, items };
    };
    /** Times one accepted order from its 202 to its leaving `pending`. */
    const time = async (id: string, acceptedAt: number) => {
      for (;;) {
        const res = await fetch(`${url}/api/orders/${id}`);
        const body = (await res.json()) as { status?: string };
        if (body.status && body.status !== 'pending') {
          result.settleMs.push(performance.now() - acceptedAt);
          return;
        }
        // Polls thin out as the wait grows (at most 5 % of the time waited): an order that takes
        // 20 s must not cost the server 800 reads and skew what is measured.
        await sleep(Math.max(25, (performance.now() - acceptedAt) / 20));
      }
    };
    const worker = async () => {
      while (performance.now() < deadline) {
        try {
          const res = await post(`${url}/api/orders`, order());
          if (res.status === 202) {
            result.accepted += 1;
            if (result.accepted % settings.sampleEvery === 0) timings.push(time(res.body.id as string, performance.now()));
          } else if (res.status === 429) {
            result.refused += 1;
            if (!res.retryAfter) result.refusedWithoutRetryAfter += 1;
            else if (settings.honourRetryAfter) await sleep(Math.min(Number(res.retryAfter) * 1000, deadline - performance.now()));
          } else {
            result.errors += 1;
          }
        } catch {
          result.errors += 1;
        }
      }
    };
    const lagSampler = (async () => {
      while (performance.now() < deadline) {
        const lag = await eventLagMs(url).catch(() => NaN);
        if (Number.isFinite(lag)) result.lagMs.push(lag);
        await sleep(250);
      }
    })();
    await Promise.all([...Array.from({ length: settings.inFlight }, worker), lagSampler]);
    const stoppedAt = performance.now();
    const atStop = await pendingOrders(client);
    result.seconds = (stoppedAt - started) / 1000;
    result.backlogAtStop = atStop.pending;
    result.settledDuringLoad = atStop.total - atStop.pending;
    for (;;) {
      if ((await pendingOrders(client)).pending === 0) break;
      await sleep(100);
    }
    await Promise.all(timings);
    result.drainSeconds = (performance.now() - stoppedAt) / 1000;
    const total = (await pendingOrders(client)).total;
    result.cpu = cpuPerUnit(before, await meter.snapshot(), total);
    await meter.close();
    result.settleMs.sort((a, b) => a - b);
    return result;
  } finally {
    await shop?.stop().catch(() => undefined);
    await client.end().catch(() => undefined);
    await withAdminClient(settings.baseUrl, (c) => c.query(`drop database if exists "${database}" with (force)`)).catch(() => undefined);
    if (redis) {
      let cursor = '0';
      do {
        const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = nextCursor;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    }
  }
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');

function report(r: RunResult): string[] {
  const acceptedPerS = r.accepted / r.seconds;
  const lags = [...r.lagMs].sort((a, b) => a - b);
  return [
    `${r.variant === 'kit' ? 'kit (this tree)' : `baseline (${BASELINE_REF})`} on the ${r.bus === 'memory' ? 'memory bus' : 'BullMQ'}, ${settings.inFlight} orders in flight for ${fmt(r.seconds, 1)} s:`,
    `  accepted ${fmt(acceptedPerS)}/s (${fmt(r.accepted)}), refused ${fmt(r.refused / r.seconds)}/s (${fmt(r.refused)}, ${r.refusedWithoutRetryAfter} without Retry-After), errors ${r.errors}`,
    `  settled during the load ${fmt(r.settledDuringLoad / r.seconds)}/s (${fmt((100 * r.settledDuringLoad) / Math.max(1, r.accepted))} % of accepted); backlog when the load stopped ${fmt(r.backlogAtStop)} orders = ${fmt(r.backlogAtStop / Math.max(acceptedPerS, 1e-9), 1)} s of accepts, drained in ${fmt(r.drainSeconds, 1)} s`,
    `  202 → settled (${r.settleMs.length} sampled): p50 ${fmt(percentile(r.settleMs, 50))} ms, p99 ${fmt(percentile(r.settleMs, 99))} ms, max ${fmt(r.settleMs.at(-1) ?? NaN)} ms`,
    `  event lag (/metrics, every 250 ms): p50 ${fmt(percentile(lags, 50))} ms, p99 ${fmt(percentile(lags, 99))} ms, max ${fmt(lags.at(-1) ?? NaN)} ms`,
    `  CPU per settled order: ${formatCpu(r.cpu)}`,
  ];
}

async function main(): Promise<number> {
  console.log(`bench:saga: ${availableParallelism()} cores, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: RunResult[] = [];
  const baseline = settings.variants.includes('baseline') ? checkOutBaseline() : undefined;
  try {
    let n = 0;
    for (const bus of settings.buses) {
      for (const variant of settings.variants) {
        const root = variant === 'kit' ? ROOT : baseline?.root;
        if (!root) continue;
        const result = await run(bus, variant, root, n++);
        results.push(result);
        for (const line of report(result)) console.log(line);
      }
    }
  } finally {
    baseline?.remove();
  }
  const missed: string[] = [];
  console.log('');
  for (const r of results.filter((x) => x.variant === 'kit')) {
    const bus = r.bus === 'memory' ? 'memory bus' : 'BullMQ';
    const settledPerS = r.settledDuringLoad / r.seconds;
    const backlogS = r.backlogAtStop / Math.max(r.accepted / r.seconds, 1e-9);
    const p99 = percentile(r.settleMs, 99);
    const baseline = results.find((x) => x.bus === r.bus && x.variant === 'baseline');
    const checks: Array<[string, boolean]> = [
      [`p99 202 → settled ${fmt(p99)} ms ≤ ${GOAL.p99Ms} ms`, p99 <= GOAL.p99Ms],
      [`backlog when the load stopped ${fmt(backlogS, 1)} s ≤ ${GOAL.backlogSeconds} s of accepts`, backlogS <= GOAL.backlogSeconds],
      [`every refusal carries Retry-After (${r.refusedWithoutRetryAfter} without)`, r.refusedWithoutRetryAfter === 0],
      [
        `settled ${fmt(settledPerS)}/s ≥ ${GOAL.capacityFactor} × ${ISSUE_SETTLED_PER_S[r.bus]}/s (the issue's figure)` +
          (baseline ? `; ${fmt(settledPerS / (baseline.settledDuringLoad / baseline.seconds), 2)} × this run's baseline` : ''),
        settledPerS >= GOAL.capacityFactor * ISSUE_SETTLED_PER_S[r.bus],
      ],
    ];
    for (const [text, ok] of checks) {
      console.log(`${bus}: ${text}: ${ok ? 'met' : 'MISSED'}`);
      if (!ok) missed.push(`${bus}: ${text}`);
    }
  }
  return missed.length > 0 ? 2 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
