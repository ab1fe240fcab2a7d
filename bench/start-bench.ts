/**
 * `npm run bench:start`: the first hour on the embedded default (issue 14,
 * point 5): how long `npm start` takes to a healthy `/health`, the first time
 * and on a restart, and how much memory the process holds, next to the
 * production build (`node dist/main.js`) and to PGlite alone. Each run is a
 * child process on a scratch data folder and a port of its own (23700-23799),
 * stopped with SIGTERM (`SHUTDOWN_GRACE_MS=0`) and waited for; every process
 * group this bench started is killed by its id when it ends, however it ends.
 *
 *   first      `npm start` on an empty `DATA_DIR` with an empty TMPDIR, so
 *              that tsx's transpile cache is cold too, as on a fresh clone:
 *              spawn to the first 200 of `GET /health`, polled every 20 ms;
 *              then the app's resident memory (its node process, not npm's),
 *              a burst of BENCH_START_ORDERS orders (20 at a time) until all
 *              settled, its resident memory again and its peak (VmHWM)
 *   restart    `npm start` again on that data and cache
 *   build      `node dist/main.js` (after `npm run build`, timed once): first
 *              start on another empty folder, then a restart on it
 *   pglite     PGlite alone in a bare node script (import, open, `select 1`):
 *              on an empty folder (initdb), then on the same folder again,
 *              with PGlite's defaults and with the kit's shared_buffers
 *              (16MB, src/kernel/db/pglite-database.ts): the baseline of the
 *              memory figures
 *
 * BENCH_START_REPS rounds (default 5), each in that order; the medians are
 * printed, with the kit's additions over PGlite alone. No goal is enforced:
 * the goals (first start at most 8 s, restart at most 3 s) are judged in
 * docs/benchmarks.md. Run it on a quiet machine.
 *
 * Env:
 *   BENCH_START_REPS    rounds (default 5)
 *   BENCH_START_ORDERS  orders of the burst (default 300)
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { intEnv } from './bench-env.js';
import { fmt, median, table } from './bench-format.js';
import { killAllGroups, launch, mustRun, stopGroup, type Launched } from './bench-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = intEnv('BENCH_START_REPS', 5);
const ORDERS = intEnv('BENCH_START_ORDERS', 300);
const SCRATCH = mkdtempSync(join(tmpdir(), 'mmk-start-bench-'));

/**
 * PGlite alone: what the kit's memory figures are compared with, with PGlite's
 * defaults or with the kit's smaller shared_buffers (the second argument).
 * Prints `{ms, rssMb}` once `select 1` answered.
 */
const PGLITE_ALONE = `
const started = performance.now();
const { PGlite } = await import('@electric-sql/pglite');
const [folder, sharedBuffers] = process.argv.slice(1);
const db = new PGlite(folder, sharedBuffers ? { startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=' + sharedBuffers] } : {});
await db.query('select 1');
console.log(JSON.stringify({ ms: performance.now() - started, rssMb: process.memoryUsage().rss / 1e6 }));
await db.close();
`;

interface StartFigures {
  ms: number;
  rssMb: number;
  burstRssMb?: number;
  peakRssMb?: number;
}

/** A port in 23700-23799 that nothing listens on. */
async function freePort(): Promise<number> {
  for (let port = 23_700; port < 23_800; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 23700-23799');
}

/** VmRSS or VmHWM of a process, in MB. */
function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, '')) / 1024;
}

/** The node process that runs the app: the launched process itself, or under npm the descendant whose command names the entry point. */
function appPid(launched: Launched, entry: string): number {
  const root = launched.child.pid!;
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const ppid = Number(readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (/(^|\/)node$/.test(argv[0] ?? '') && argv.includes(entry)) return pid;
    queue.push(...(children.get(pid) ?? []));
  }
  throw new Error(`${launched.name}: no node process running ${entry}`);
}

async function healthy(url: string, launched: Launched, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void launched.exited.then(() => (exited = true));
  while (performance.now() < deadline) {
    if (exited) throw new Error(`${launched.name} exited before it was healthy:\n${launched.tail.join('\n')}`);
    const ok = await fetch(`${url}/health`).then((r) => r.status === 200, () => false);
    if (ok) return performance.now();
    await sleep(20);
  }
  throw new Error(`${launched.name}: not healthy within ${timeoutMs / 1000} s:\n${launched.tail.join('\n')}`);
}

async function post(url: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

/** ORDERS orders, 20 at a time (a 429 waits and retries), until none is pending. */
async function burst(url: string): Promise<void> {
  const product = await post(url, '/api/catalog/products', { sku: `sku-${Date.now()}`, name: 'Mug', priceCents: 100, stock: 1_000_000 });
  const customerId = `bench-${Date.now()}`;
  await post(url, '/api/payments/wallets', { customerId, balanceCents: 1_000_000_000 });
  const ids: string[] = [];
  for (let sent = 0; sent < ORDERS; ) {
    const batch = Math.min(20, ORDERS - sent);
    const answers = await Promise.all(Array.from({ length: batch }, () => post(url, '/api/orders', { customerId, items: [{ productId: product.body.id, quantity: 1 }] })));
    for (const a of answers) if (a.status === 202) ids.push(a.body.id);
    sent += answers.filter((a) => a.status === 202).length;
    if (answers.some((a) => a.status === 429)) await sleep(200);
    else if (answers.some((a) => a.status !== 202)) throw new Error(`order refused: ${JSON.stringify(answers.find((a) => a.status !== 202))}`);
  }
  for (const id of ids) {
    while (((await (await fetch(`${url}/api/orders/${id}`)).json()) as { status: string }).status === 'pending') await sleep(50);
  }
}

/** Starts `command` on `dataDir`, times it to healthy, reads its memory (and after a burst), stops it. */
async function measureStart(name: string, command: string, args: string[], entry: string, dataDir: string, tmp: string, withBurst: boolean): Promise<StartFigures> {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: '', EVENT_BUS: 'memory', SHUTDOWN_GRACE_MS: '0', LOG_LEVEL: 'warn', TMPDIR: tmp };
  const launched = launch(name, command, args, { cwd: ROOT, env });
  try {
    const at = await healthy(`http://127.0.0.1:${port}`, launched);
    const pid = appPid(launched, entry);
    const figures: StartFigures = { ms: at - launched.startedAt, rssMb: memoryOf(pid, 'VmRSS') };
    if (withBurst) {
      await burst(`http://127.0.0.1:${port}`);
      figures.burstRssMb = memoryOf(pid, 'VmRSS');
      figures.peakRssMb = memoryOf(pid, 'VmHWM');
    }
    return figures;
  } finally {
    await stopGroup(launched, 'SIGTERM', 20_000);
  }
}

async function pgliteAlone(dataDir: string, sharedBuffers?: string): Promise<StartFigures> {
  const result = await mustRun('pglite alone', process.execPath, ['--input-type=module', '-e', PGLITE_ALONE, dataDir, ...(sharedBuffers ? [sharedBuffers] : [])], { cwd: ROOT });
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as StartFigures;
}

async function main(): Promise<void> {
  console.log(`bench:start: ${REPS} rounds, a burst of ${ORDERS} orders; node ${process.version}, ${availableParallelism()} cores, load average ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
  const build = await mustRun('build', 'npm', ['run', 'build'], { cwd: ROOT });
  console.log(`npm run build: ${fmt(build.ms)} ms`);
  const runs: Record<string, StartFigures[]> = { first: [], restart: [], buildFirst: [], buildRestart: [], pgliteFirst: [], pgliteRestart: [], pgliteKitRestart: [] };
  for (let rep = 1; rep <= REPS; rep++) {
    const round = mkdtempSync(join(SCRATCH, `round-${rep}-`));
    const tmp = mkdtempSync(join(round, 'tmp-'));
    const dev = join(round, 'dev');
    const built = join(round, 'built');
    const alone = join(round, 'alone');
    runs.first!.push(await measureStart('npm start (first)', 'npm', ['start'], 'src/main.ts', dev, tmp, true));
    runs.restart!.push(await measureStart('npm start (restart)', 'npm', ['start'], 'src/main.ts', dev, tmp, false));
    runs.buildFirst!.push(await measureStart('node dist/main.js (first)', process.execPath, ['dist/main.js'], 'dist/main.js', built, tmp, true));
    runs.buildRestart!.push(await measureStart('node dist/main.js (restart)', process.execPath, ['dist/main.js'], 'dist/main.js', built, tmp, false));
    runs.pgliteFirst!.push(await pgliteAlone(alone));
    runs.pgliteRestart!.push(await pgliteAlone(alone));
    runs.pgliteKitRestart!.push(await pgliteAlone(alone, '16MB'));
    const last = (key: string) => runs[key]!.at(-1)!;
    console.log(
      `round ${rep}: npm start ${fmt(last('first').ms)} / ${fmt(last('restart').ms)} ms, node dist/main.js ${fmt(last('buildFirst').ms)} / ${fmt(last('buildRestart').ms)} ms, ` +
        `PGlite alone ${fmt(last('pgliteFirst').ms)} / ${fmt(last('pgliteRestart').ms)} ms (first / restart)`,
    );
    rmSync(round, { recursive: true, force: true });
  }
  const m = (key: string, field: keyof StartFigures) => median(runs[key]!.map((r) => r[field] ?? NaN));
  const row = (label: string, key: string) => [label, fmt(m(key, 'ms') / 1000, 2), fmt(m(key, 'rssMb')), fmt(m(key, 'burstRssMb')), fmt(m(key, 'peakRssMb'))];
  console.log(`\nmedians of ${REPS} rounds (time to a healthy /health; resident memory of the app's node process in MB)\n`);
  console.log(
    table(
      ['run', 'start s', 'RSS at start', `RSS after ${ORDERS} orders`, 'peak RSS'],
      [
        row('npm start, first (empty data folder, cold tsx cache)', 'first'),
        row('npm start, restart', 'restart'),
        row('node dist/main.js, first', 'buildFirst'),
        row('node dist/main.js, restart', 'buildRestart'),
        row('PGlite alone, first (initdb)', 'pgliteFirst'),
        row('PGlite alone, restart', 'pgliteRestart'),
        row('PGlite alone, restart, shared_buffers=16MB as the kit sets it', 'pgliteKitRestart'),
      ],
    ),
  );
  console.log(`\nload average at the end: ${loadavg().map((l) => fmt(l, 2)).join(' ')}`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    killAllGroups();
    rmSync(SCRATCH, { recursive: true, force: true });
  });
