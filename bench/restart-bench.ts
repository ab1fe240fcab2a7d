/**
 * `npm run bench:restart`: what the clients of a burst see when the process
 * gets SIGTERM in the middle of it (issue 14, point 6), the code of this tree
 * side by side with a baseline, the commit BENCH_BASELINE_REF (765575b, the
 * main branch just before the drain fix) checked out in a temporary git
 * worktree, in one run.
 *
 * Each run is what a new user does: `npm start` on its defaults (embedded
 * PGlite in a fresh DATA_DIR, memory bus, SHUTDOWN_GRACE_MS 5000), one product
 * and one wallet, then BENCH_BURST concurrent `POST /api/orders` (fetch, one
 * connection each), and SIGTERM once 10 of them were answered, sent either
 *   - to the app's own Node process (what an orchestrator does to a
 *     container that runs node), or
 *   - to the whole process group of `npm start` (a terminal, `timeout`, a
 *     supervisor that signals the group).
 * It counts the answers by status, the requests that failed (ECONNRESET and
 * other errors), and the time from the signal to the app's exit.
 *
 * Env:
 *   BENCH_RUNS          runs per variant and signal (default 3)
 *   BENCH_BURST         orders in the burst (default 300)
 *   BENCH_PORT          first port (default 21130; one per run after it)
 *   BENCH_VARIANTS      comma list of baseline,kit (default both)
 *   BENCH_BASELINE_REF  the baseline's commit (default 765575b)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fmt, median, table } from './bench-format.js';
import { launch, waitForLine } from './bench-process.js';

const ROOT = new URL('..', import.meta.url).pathname;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BURST = Number(process.env.BENCH_BURST ?? 300);
const FIRST_PORT = Number(process.env.BENCH_PORT ?? 21130);
const BASELINE_REF = process.env.BENCH_BASELINE_REF || '765575b';
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'baseline,kit').split(',').map((v) => v.trim()) as Array<'baseline' | 'kit'>;
const SIGNALS = ['app process', 'process group'] as const;

interface RunResult {
  statuses: Map<number, number>;
  errors: Map<string, number>;
  exitMs: number;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** The pid of the process that runs src/main.ts in the group (under npm, and under the tsx CLI in the baseline). */
function appPid(group: number): number {
  const lines = execFileSync('ps', ['-o', 'pid=,args=', '-g', String(group)], { encoding: 'utf8' }).trim().split('\n');
  // A node process, not npm's `sh -c node …` nor the tsx CLI (which runs the app as its own child).
  const app = lines
    .map((l) => l.trim().split(/\s+/))
    .find(([, command, ...args]) => /(^|\/)node$/.test(command ?? '') && args.includes('src/main.ts') && !args.some((a) => a.includes('/.bin/tsx')));
  if (!app) throw new Error(`no app process in group ${group}:\n${lines.join('\n')}`);
  return Number(app[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function oneRun(root: string, port: number, signal: (typeof SIGNALS)[number]): Promise<RunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mmk-restart-bench-'));
  const shop = launch('shop', 'npm', ['start'], { cwd: root, env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' } });
  try {
    await waitForLine(shop, (line) => line.includes('"msg":"started"'), 120_000);
    const base = `http://127.0.0.1:${port}`;
    const product = (await post(base, '/api/catalog/products', { sku: `sku-${port}-${Date.now()}`, name: 'Mug', priceCents: 100, stock: 1_000_000 })).body;
    const wallet = (await post(base, '/api/payments/wallets', { customerId: `c${Date.now()}`, balanceCents: 1_000_000_000 })).body;
    const app = appPid(shop.child.pid!);
    const result: RunResult = { statuses: new Map(), errors: new Map(), exitMs: NaN };
    let answered = 0;
    let signalledAt = 0;
    const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
    const burst = Array.from({ length: BURST }, () =>
      post(base, '/api/orders', { customerId: wallet.customerId, items: [{ productId: product.id, quantity: 1 }] }).then(
        (res) => {
          count(result.statuses, res.status);
          answered += 1;
          if (answered === 10) {
            signalledAt = performance.now();
            process.kill(signal === 'app process' ? app : -shop.child.pid!, 'SIGTERM');
          }
        },
        (error: Error & { cause?: { code?: string } }) => count(result.errors, error.cause?.code ?? error.message),
      ),
    );
    await Promise.all(burst);
    // npm may be gone long before the app (it dies of the group's signal): the app's own exit counts.
    const deadline = performance.now() + 60_000;
    while (alive(app) && performance.now() < deadline) await sleep(20);
    result.exitMs = performance.now() - signalledAt;
    return result;
  } finally {
    try {
      process.kill(-shop.child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await shop.closed;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function checkOutBaseline(): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'mmk-restart-baseline-'));
  execFileSync('git', ['worktree', 'add', '--detach', root, BASELINE_REF], { cwd: ROOT, stdio: 'pipe' });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  return { root, remove: () => execFileSync('git', ['worktree', 'remove', '--force', root], { cwd: ROOT, stdio: 'pipe' }) };
}

async function main(): Promise<void> {
  const baseline = VARIANTS.includes('baseline') ? checkOutBaseline() : undefined;
  const rows: string[][] = [];
  let port = FIRST_PORT;
  try {
    for (const variant of VARIANTS) {
      const root = variant === 'kit' ? ROOT : baseline!.root;
      for (const signal of SIGNALS) {
        const runs: RunResult[] = [];
        for (let i = 0; i < RUNS; i += 1) {
          const run = await oneRun(root, port++, signal);
          runs.push(run);
          const errors = [...run.errors].map(([k, n]) => `${n} ${k}`).join(', ') || 'none';
          console.log(`${variant}, SIGTERM to the ${signal}, run ${i + 1}: ${[...run.statuses].map(([s, n]) => `${n}×${s}`).join(' ')}; errors: ${errors}; exit ${fmt(run.exitMs / 1000, 1)} s after the signal`);
        }
        const sum = (f: (r: RunResult) => number) => runs.map(f);
        const statuses = (pick: (s: number) => boolean) => sum((r) => [...r.statuses].filter(([s]) => pick(s)).reduce((a, [, n]) => a + n, 0));
        const errors = (pick: (k: string) => boolean) => sum((r) => [...r.errors].filter(([k]) => pick(k)).reduce((a, [, n]) => a + n, 0));
        const range = (values: number[]) => (Math.min(...values) === Math.max(...values) ? fmt(values[0]!) : `${fmt(Math.min(...values))}-${fmt(Math.max(...values))}`);
        rows.push([
          `${variant === 'kit' ? 'this tree' : `baseline ${BASELINE_REF}`}, SIGTERM to the ${signal}`,
          range(statuses((s) => s === 202)),
          range(statuses((s) => s === 429)),
          range(statuses((s) => s !== 202 && s !== 429)),
          range(errors((k) => k === 'ECONNRESET')),
          range(errors((k) => k !== 'ECONNRESET')),
          fmt(median(sum((r) => r.exitMs)) / 1000, 1),
        ]);
      }
    }
  } finally {
    baseline?.remove();
  }
  console.log(`\n${BURST} concurrent POST /api/orders on npm start's defaults, SIGTERM after 10 answers; ${RUNS} runs each (min-max):\n`);
  console.log(table(['variant', '202', '429', 'other status', 'ECONNRESET', 'other errors', 'signal → exit s (median)'], rows));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
