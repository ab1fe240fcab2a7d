/**
 * `npm run bench:extract`: what extracting payments costs an operator, for
 * BENCH_WALLETS (100,000) wallet rows, each figure with a baseline measured
 * in the same run (issue 12, point 8). Every command runs as the operator
 * types it, on a scratch clone of this repository's last commit (git clone,
 * node_modules linked in and excluded from git, as test/extract.test.ts does):
 *
 *   1. extract  `npm run extract -- payments` end to end, and its dry run,
 *               BENCH_EXTRACT_REPS times (absorb between them, timed too);
 *               baseline: `npm run arch:check` alone, a precondition that
 *               extract and its dry run both run.
 *   2. move     `npm run move-data -- payments --from <source> --to <empty
 *               database>`: the wall time of the command and the rows/s it
 *               reports for wallets; the source is migrated with the shop's
 *               schemas (src/cli/migrate.ts) and holds the wallets, 500 outbox
 *               and 300 inbox rows. Baseline: a bare psql pipe
 *               `psql -c "\copy (select * from payments.wallets) to stdout" |
 *               psql -c "\copy payments.wallets from stdin"` from the same
 *               source into the empty, migrated table of another database.
 *               Also the command's start-up alone (`npm run move-data --
 *               --help`). BENCH_MOVE_REPS times, rotating which goes first;
 *               medians.
 *   3. window   payments extracted in the clone and built (`npm run build -w
 *               extracted/payments`); the monolith (`src/main.ts`, as `npm
 *               start` runs it) and the service (`node dist/main.js`) in
 *               production mode on BullMQ, the service first on the
 *               monolith's database, which holds the wallets. This process
 *               polls `GET /api/payments/wallets/<id>` through the monolith
 *               every BENCH_POLL_MS and runs the operator's sequence: SIGTERM
 *               the service (SHUTDOWN_GRACE_MS=0), `npm run move-data --
 *               payments --from <its database> --to <the other>`, start it
 *               again on the other database, until the route answers 200
 *               again. The window is the first non-200 to the first 200 after
 *               (send times of those polls); its parts: stop, move-data, start
 *               to listening (its "started" log line), and the time until the
 *               monolith sends it requests again (its breaker lets a trial
 *               call through REMOTE_BREAKER_HALF_OPEN_MS after it opened).
 *               Orders are placed through the monolith every
 *               BENCH_ORDER_EVERY_MS during the window; every accepted one
 *               (202) must be confirmed once the service is back, each paid
 *               once (the customer's balance); those admission control sheds
 *               (429) are counted, not placed again. The stop waits up to 30 s
 *               for the service to exit, so that the kit's own drain timeout
 *               (10 s) shows when it runs out. BENCH_WINDOW_REPS moves, back
 *               and forth between the two databases. Goal: the median window
 *               at most 5 s.
 *
 * Exit code 2 when the goal is missed, 1 when the bench fails (a command that
 * fails, an order lost or not confirmed, a child that does not start).
 *
 * Env:
 *   BENCH_DATABASE_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test); databases
 *                       mmk_xbench_<pid>_* are created next to it and dropped at the end
 *   BENCH_REDIS_URL     Redis of the BullMQ bus (default redis://127.0.0.1:6379); keys mmk-xbench-<pid>:* are deleted at the end
 *   BENCH_PARTS         parts to run, comma-separated (default extract,move,window)
 *   BENCH_WALLETS       wallet rows (default 100000)
 *   BENCH_EXTRACT_REPS  extract / dry run / arch:check repetitions (default 3)
 *   BENCH_MOVE_REPS     move-data / psql pipe repetitions (default 5)
 *   BENCH_WINDOW_REPS   moves of the window part (default 3)
 *   BENCH_POLL_MS       poll interval of the wallet route (default 15)
 *   BENCH_ORDER_EVERY_MS  an order every this many ms during the window (default 500)
 *   BENCH_MONOLITH_ENV  extra settings of the monolith, e.g. "REMOTE_BREAKER_HALF_OPEN_MS=1000"
 *   BENCH_KEEP_CLONE    "true": keep the scratch clone (its path is printed)
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withAdminClient, withDatabase } from './bench-database.js';
import { intEnv, partsEnv } from './bench-env.js';
import { fmt, median, table } from './bench-format.js';
import { killAllGroups, launch, mustRun, runCommand, stopGroup, waitForLine, type CommandResult, type Launched, freePorts } from './bench-process.js';
import { busyProcesses, CpuMeter, cpuPerUnit } from './cpu-usage.js';
import { dropRedisKeys } from './bench-redis.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const PARTS = ['extract', 'move', 'window'] as const;
const GOAL_WINDOW_MS = 5_000;
const MODULE = 'payments';

const settings = {
  baseUrl: process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
  parts: partsEnv(PARTS),
  wallets: intEnv('BENCH_WALLETS', 100_000),
  extractReps: intEnv('BENCH_EXTRACT_REPS', 3),
  moveReps: intEnv('BENCH_MOVE_REPS', 5),
  windowReps: intEnv('BENCH_WINDOW_REPS', 3),
  pollMs: intEnv('BENCH_POLL_MS', 15),
  orderEveryMs: intEnv('BENCH_ORDER_EVERY_MS', 500),
  monolithEnv: Object.fromEntries((process.env.BENCH_MONOLITH_ENV ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  keepClone: process.env.BENCH_KEEP_CLONE === 'true',
};

const prefix = `mmk_xbench_${process.pid}`;
const queuePrefix = `mmk-xbench-${process.pid}`;
const SECRET = `bench-extract-${process.pid}-${'s'.repeat(32)}`;
const load = () => loadavg().map((l) => fmt(l, 2)).join(' ');
const seconds = (ms: number, digits = 2) => `${fmt(ms / 1000, digits)} s`;
const orderOf = <T>(items: readonly T[], k: number): T[] => [...items.slice(k % items.length), ...items.slice(0, k % items.length)];

// ---------------------------------------------------------------- databases, Redis, clone

const databases = new Set<string>();

async function createDatabase(name: string, template?: string): Promise<string> {
  await withAdminClient(settings.baseUrl, (c) => c.query(`create database "${name}"${template ? ` template "${template}"` : ''}`));
  databases.add(name);
  return withDatabase(settings.baseUrl, name);
}

async function dropDatabase(name: string): Promise<void> {
  await withAdminClient(settings.baseUrl, (c) => c.query(`drop database if exists "${name}" with (force)`));
  databases.delete(name);
}

async function dropAllDatabases(): Promise<void> {
  for (const name of [...databases]) await dropDatabase(name).catch((error: unknown) => console.error(`could not drop database ${name}:`, error));
}

async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench:extract' });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

const dropQueueKeys = () => dropRedisKeys(settings.redisUrl, queuePrefix);

let clone: string | undefined;

/** A scratch clone of this repository's last commit, with node_modules linked in (and kept out of git status). */
function makeClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmk-xbench-'));
  clone = dir;
  execFileSync('git', ['clone', '-q', ROOT, dir], { stdio: 'pipe' });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  appendFileSync(join(dir, '.git', 'info', 'exclude'), 'node_modules\n');
  return dir;
}

function removeClone(): void {
  if (!clone) return;
  if (settings.keepClone) console.log(`scratch clone kept: ${clone}`);
  else rmSync(clone, { recursive: true, force: true });
  clone = undefined;
}

const gitStatus = (dir: string) => execFileSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: dir, encoding: 'utf8' });

/** The shop's schemas (every module local: the clone before extract) in `url`, by src/cli/migrate.ts. */
async function migrateShop(dir: string, url: string): Promise<void> {
  await mustRun('migrate', process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts'], { cwd: dir, env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' } });
}

/** BENCH_WALLETS wallets (customer bench-<n>), 500 outbox rows (published) and 300 inbox rows in payments' schema. */
async function seedPayments(url: string): Promise<void> {
  await sql(url, `insert into payments.wallets (customer_id, balance_cents) select 'bench-' || g, 1000000 + g from generate_series(1, ${settings.wallets}) g`);
  await sql(url, `insert into payments.outbox (id, event_name, event_version, payload, correlation_id, published_at)
    select gen_random_uuid(), 'payments.PaymentCaptured', 1, jsonb_build_object('n', g), 'bench-' || g, now() from generate_series(1, 500) g`);
  await sql(url, `insert into payments.inbox (event_id, handler) select gen_random_uuid(), 'capture-payment' from generate_series(1, 300)`);
  await sql(url, 'analyze payments.wallets');
}

// ---------------------------------------------------------------- part 1: extract

interface ExtractResult {
  extractMs: number[];
  extractSelfMs: number[];
  dryRunMs: number[];
  archMs: number[];
  absorbMs: number[];
  steps: number;
}

async function benchExtract(dir: string): Promise<ExtractResult> {
  const result: ExtractResult = { extractMs: [], extractSelfMs: [], dryRunMs: [], archMs: [], absorbMs: [], steps: 0 };
  const npm = (name: string, args: string[]) => mustRun(name, 'npm', ['run', ...args], { cwd: dir });
  for (let k = 0; k < settings.extractReps; k++) {
    const line: string[] = [];
    for (const side of orderOf(['dry', 'arch', 'extract'] as const, k)) {
      if (side === 'dry') {
        const run = await npm('extract --dry-run', ['extract', '--', MODULE, '--dry-run']);
        if (!run.stdout.includes('dry run: nothing was changed') || gitStatus(dir) !== '') throw new Error(`the dry run changed something or said otherwise:\n${run.stdout}`);
        result.dryRunMs.push(run.ms);
        line.push(`dry run ${seconds(run.ms)}`);
      } else if (side === 'arch') {
        const run = await npm('arch:check', ['arch:check']);
        result.archMs.push(run.ms);
        line.push(`arch:check ${seconds(run.ms)}`);
      } else {
        const run = await npm('extract', ['extract', '--', MODULE]);
        const done = /✔ extract payments done in ([\d.]+) s/.exec(run.stdout);
        const steps = /extract payments: (\d+) step\(s\)/.exec(run.stdout);
        if (!done || !steps) throw new Error(`extract did not report its end:\n${run.stdout}`);
        result.extractMs.push(run.ms);
        result.extractSelfMs.push(Number(done[1]) * 1000);
        result.steps = Number(steps[1]);
        const absorb = await npm('absorb', ['absorb', '--', MODULE]);
        if (gitStatus(dir) !== '') throw new Error(`absorb left changes:\n${gitStatus(dir)}`);
        result.absorbMs.push(absorb.ms);
        line.push(`extract ${seconds(run.ms)} (it reports ${seconds(Number(done[1]) * 1000, 1)}), absorb ${seconds(absorb.ms)}`);
      }
    }
    console.log(`  round ${k + 1}: ${line.join(', ')}`);
  }
  return result;
}

function reportExtract(r: ExtractResult): void {
  const row = (name: string, values: number[]) => [name, seconds(median(values)), seconds(Math.min(...values)), seconds(Math.max(...values))];
  console.log(
    `\n1. npm run extract -- payments on the scratch clone (${r.steps} steps), ${settings.extractReps} rounds, absorb between them; wall time of the npm command\n\n` +
      table(
        ['command', 'median', 'fastest', 'slowest'],
        [
          row('npm run extract -- payments', r.extractMs),
          row('  of which extract itself (the time it prints: the steps after the checks)', r.extractSelfMs),
          row('npm run extract -- payments --dry-run', r.dryRunMs),
          row('npm run absorb -- payments', r.absorbMs),
          row('baseline: npm run arch:check (a precondition of extract and its dry run)', r.archMs),
        ],
      ),
  );
}

// ---------------------------------------------------------------- part 2: move-data

interface MoveResult {
  moveMs: number[];
  moveSelfMs: number[];
  walletsRowsPerS: number[];
  walletsMs: number[];
  totalRows: number;
  pipeMs: number[];
  helpMs: number[];
  /** Cores the machine used (this process aside) while move-data ran. */
  busyCores: number[];
}

const WALLETS_LINE = /^\s+wallets: ([\d,]+) rows copied and verified \(count and checksum\) in ([\d.]+) s, ([\d,]+) rows\/s$/m;
const DONE_LINE = /✔ move-data payments: (\d+) tables, ([\d,]+) rows moved and verified in ([\d.]+) s/;
const num = (text: string) => Number(text.replace(/,/g, ''));

/** `npm run move-data -- payments --from --to`, as the operator runs it, in `dir`. */
function moveData(dir: string, from: string, to: string): Promise<CommandResult> {
  return runCommand('move-data', 'npm', ['run', 'move-data', '--', MODULE, '--from', from, '--to', to], { cwd: dir, env: { ...process.env, DATABASE_URL: '' } });
}

function parseMove(run: CommandResult, wallets = settings.wallets): { selfMs: number; walletsMs: number; walletsRowsPerS: number; rows: number } {
  const copied = WALLETS_LINE.exec(run.stdout);
  const done = DONE_LINE.exec(run.stdout);
  if (run.code !== 0 || !copied || !done) throw new Error(`move-data failed (code ${run.code}):\n${run.stdout.slice(-3_000)}${run.stderr.slice(-3_000)}`);
  if (num(copied[1]!) !== wallets) throw new Error(`move-data copied ${copied[1]} wallets, expected ${wallets}`);
  return { selfMs: Number(done[3]) * 1000, walletsMs: Number(copied[2]) * 1000, walletsRowsPerS: num(copied[3]!), rows: num(done[2]!) };
}

async function benchMove(dir: string): Promise<MoveResult> {
  const result: MoveResult = { moveMs: [], moveSelfMs: [], walletsRowsPerS: [], walletsMs: [], totalRows: 0, pipeMs: [], helpMs: [], busyCores: [] };
  // Templates: the seeded source, and the shop's empty schemas for the pipe's target (copied per round, untimed).
  const sourceTemplate = `${prefix}_src`;
  const emptyTemplate = `${prefix}_empty`;
  const sourceTemplateUrl = await createDatabase(sourceTemplate);
  const emptyTemplateUrl = await createDatabase(emptyTemplate);
  await migrateShop(dir, sourceTemplateUrl);
  await migrateShop(dir, emptyTemplateUrl);
  await seedPayments(sourceTemplateUrl);
  for (let k = 0; k < settings.moveReps; k++) {
    const source = await createDatabase(`${prefix}_src_${k}`, sourceTemplate);
    const target = await createDatabase(`${prefix}_dst_${k}`);
    const pipeTarget = await createDatabase(`${prefix}_pipe_${k}`, emptyTemplate);
    const line: string[] = [];
    for (const side of orderOf(['move', 'pipe', 'help'] as const, k)) {
      if (side === 'help') {
        // The command's start-up alone: npm, tsx, and the imports of src/cli/move-data.ts, then commander's help.
        const run = await mustRun('move-data --help', 'npm', ['run', 'move-data', '--', '--help'], { cwd: dir });
        result.helpMs.push(run.ms);
        line.push(`move-data --help ${seconds(run.ms)}`);
      } else if (side === 'move') {
        const meter = await CpuMeter.open({});
        const before = await meter.snapshot();
        const run = await moveData(dir, source, target);
        const cpu = cpuPerUnit(before, await meter.snapshot(), 1);
        await meter.close();
        result.busyCores.push(cpu.otherCores);
        const parsed = parseMove(run);
        result.moveMs.push(run.ms);
        result.moveSelfMs.push(parsed.selfMs);
        result.walletsMs.push(parsed.walletsMs);
        result.walletsRowsPerS.push(parsed.walletsRowsPerS);
        result.totalRows = parsed.rows;
        line.push(`move-data ${seconds(run.ms)} (wallets ${seconds(parsed.walletsMs)}, ${fmt(parsed.walletsRowsPerS)} rows/s)`);
      } else {
        const run = await mustRun('psql pipe', 'bash', ['-c', 'set -o pipefail; psql -X -q -v ON_ERROR_STOP=1 -d "$FROM" -c "\\copy (select * from payments.wallets) to stdout" | psql -X -q -v ON_ERROR_STOP=1 -d "$TO" -c "\\copy payments.wallets from stdin"'], {
          cwd: dir,
          env: { ...process.env, FROM: source, TO: pipeTarget },
        });
        const [{ n }] = (await sql<{ n: number }>(pipeTarget, 'select count(*)::int as n from payments.wallets')) as [{ n: number }];
        if (n !== settings.wallets) throw new Error(`the psql pipe copied ${n} wallets, expected ${settings.wallets}`);
        result.pipeMs.push(run.ms);
        line.push(`psql pipe ${seconds(run.ms)} (${fmt(settings.wallets / (run.ms / 1000))} rows/s)`);
      }
    }
    console.log(`  round ${k + 1}: ${line.join(', ')}`);
    for (const name of [`${prefix}_src_${k}`, `${prefix}_dst_${k}`, `${prefix}_pipe_${k}`]) await dropDatabase(name);
  }
  await dropDatabase(sourceTemplate);
  await dropDatabase(emptyTemplate);
  return result;
}

function reportMove(r: MoveResult): void {
  const pipe = median(r.pipeMs);
  const rowsPerS = (ms: number) => fmt(settings.wallets / (ms / 1000));
  console.log(
    `\n2. move-data payments: ${fmt(settings.wallets)} wallets + 500 outbox + 300 inbox rows (${fmt(r.totalRows)} rows in all), into an empty database; ` +
      `baseline: the bare psql \\copy pipe of payments.wallets into the empty migrated table of another database; ${settings.moveReps} rounds, medians\n\n` +
      table(
        ['command', 'wall time', 'wallets rows/s', 'fastest', 'slowest'],
        [
          ['npm run move-data -- payments --from … --to …', seconds(median(r.moveMs)), rowsPerS(median(r.moveMs)), seconds(Math.min(...r.moveMs)), seconds(Math.max(...r.moveMs))],
          ['  the time it prints (after its start-up)', seconds(median(r.moveSelfMs)), '', seconds(Math.min(...r.moveSelfMs)), seconds(Math.max(...r.moveSelfMs))],
          ['  its wallets table: COPY both ways + count and checksum (the rows/s it prints)', seconds(median(r.walletsMs)), fmt(median(r.walletsRowsPerS)), seconds(Math.min(...r.walletsMs)), seconds(Math.max(...r.walletsMs))],
          ['baseline: psql \\copy … to stdout piped into psql \\copy … from stdin (wallets only)', seconds(pipe), rowsPerS(pipe), seconds(Math.min(...r.pipeMs)), seconds(Math.max(...r.pipeMs))],
          ['start-up alone: npm run move-data -- --help', seconds(median(r.helpMs)), '', seconds(Math.min(...r.helpMs)), seconds(Math.max(...r.helpMs))],
        ],
      ) +
      `\n\nmove-data / psql pipe: ${fmt(median(r.moveMs) / pipe, 1)}× the wall time; its wallets copy with verification ${fmt(median(r.walletsMs) / pipe, 1)}× the pipe; ` +
      `start-up ${seconds(median(r.helpMs))} of its ${seconds(median(r.moveMs))}; the machine was busy ${fmt(median(r.busyCores), 2)} of ${availableParallelism()} cores while it ran`,
  );
}

// ---------------------------------------------------------------- part 3: the 503 window


const isStarted = (line: string) => line.includes('"msg":"started"');

interface Poll {
  sent: number;
  status: number;
}

/** GET `url` every `everyMs` (sequentially) until stopped; status 0 for no answer. */
function poller(url: string, everyMs: number) {
  const polls: Poll[] = [];
  let stopped = false;
  const waiters: Array<{ match: (p: Poll) => boolean; resolve: (p: Poll) => void }> = [];
  const loop = (async () => {
    while (!stopped) {
      const sent = performance.now();
      let status = 0;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        status = res.status;
      } catch {
        status = 0;
      }
      const poll = { sent, status };
      polls.push(poll);
      for (const w of [...waiters]) {
        if (w.match(poll)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(poll);
        }
      }
      await sleep(Math.max(0, sent + everyMs - performance.now()));
    }
  })();
  return {
    polls,
    /** The first poll that `match` accepts: one already made, or the next one that comes. */
    first(match: (p: Poll) => boolean): Promise<Poll> {
      const made = polls.find(match);
      return made ? Promise.resolve(made) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

async function post(url: string, body: unknown): Promise<{ status: number; body: any; retryAfter: string | null }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, retryAfter: res.headers.get('retry-after') };
}

interface WindowRun {
  from: string;
  to: string;
  windowMs: number;
  firstFailureAfterSigtermMs: number;
  stopMs: number;
  moveMs: number;
  moveAttempts: number;
  /** The time move-data printed (its work, after its start-up). */
  moveSelfMs: number;
  /** The service logged that requests were still in flight when its drain timeout ran out. */
  drainTimedOut: boolean;
  /** Cores the monolith, and the rest of the machine (move-data, PostgreSQL, this process, neighbours), used while move-data ran. */
  moveMonolithCores: number;
  moveOtherCores: number;
  startMs: number;
  monolithMs: number;
  statuses: Map<number, number>;
  orders: number;
  ordersRefused: number;
  settleAfterWindowMs: number;
}

async function benchWindow(dir: string): Promise<WindowRun[]> {
  await mustRun('extract', 'npm', ['run', 'extract', '--', MODULE], { cwd: dir });
  await mustRun('build', 'npm', ['run', 'build', '-w', `extracted/${MODULE}`], { cwd: dir });
  const serviceDir = join(dir, 'extracted', MODULE);
  const [monolithDb, serviceDb] = [await createDatabase(`${prefix}_mono`), await createDatabase(`${prefix}_svc`)];
  const [monolithPort, servicePort] = (await freePorts(2)) as [number, number];
  const monolithUrl = `http://127.0.0.1:${monolithPort}`;
  const serviceUrl = `http://127.0.0.1:${servicePort}`;
  const common: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    // The bench's Redis keeps nothing on disk, which production mode otherwise refuses.
    REDIS_VOLATILE_OK: 'true',
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE_MS: '0',
    EVENT_BUS: 'bullmq',
    REDIS_URL: settings.redisUrl,
    EVENT_QUEUE_PREFIX: queuePrefix,
    SERVICE_TOKEN_SECRET: SECRET,
  };
  const serviceEnv = (databaseUrl: string): NodeJS.ProcessEnv => ({
    ...common,
    MODULES: MODULE,
    DATABASE_URL: databaseUrl,
    PORT: String(servicePort),
    SERVICE_URL_CATALOG: monolithUrl,
    SERVICE_URL_ORDERS: monolithUrl,
    SERVICE_URL_SHIPPING: monolithUrl,
  });
  const startService = (databaseUrl: string) => launch('payments service (node dist/main.js)', process.execPath, ['dist/main.js'], { cwd: serviceDir, env: serviceEnv(databaseUrl), keepStdout: false });
  const running: Launched[] = [];
  try {
    // The service first, on the monolith's database: it makes payments' schema there; then the wallets.
    let service = startService(monolithDb);
    running.push(service);
    await waitForLine(service, isStarted, 120_000);
    await seedPayments(monolithDb);
    const monolith = launch('monolith (src/main.ts)', process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: dir,
      env: { ...common, DATABASE_URL: monolithDb, PORT: String(monolithPort), SERVICE_URL_PAYMENTS: serviceUrl, ...settings.monolithEnv },
      keepStdout: false,
    });
    running.push(monolith);
    await waitForLine(monolith, isStarted, 120_000);
    const health = (await (await fetch(`${monolithUrl}/health`)).json()) as { modules: Record<string, { location?: string }> };
    if (health.modules[MODULE]?.location !== 'remote') throw new Error(`the monolith does not see ${MODULE} as remote: ${JSON.stringify(health.modules)}`);

    const product = await post(`${monolithUrl}/api/catalog/products`, { sku: `xbench-${process.pid}`, name: 'Bench product', priceCents: 1_000, stock: 1_000_000 });
    if (product.status !== 201) throw new Error(`creating a product: ${product.status} ${JSON.stringify(product.body)}`);
    const productId = product.body.id as string;
    const walletPath = `/api/payments/wallets/bench-${Math.ceil(settings.wallets / 2)}`;
    const check = await fetch(`${monolithUrl}${walletPath}`);
    if (check.status !== 200) throw new Error(`GET ${walletPath} through the monolith answered ${check.status} before the move`);

    const runs: WindowRun[] = [];
    let current = monolithDb;
    for (let k = 0; k < settings.windowReps; k++) {
      const from = current;
      const to = current === monolithDb ? serviceDb : monolithDb;
      const customerId = `xbench-window-${k}`;
      const balance = 1_000_000_000;
      const wallet = await post(`${monolithUrl}/api/payments/wallets`, { customerId, balanceCents: balance });
      if (wallet.status !== 201) throw new Error(`creating a wallet: ${wallet.status} ${JSON.stringify(wallet.body)}`);

      const polls = poller(`${monolithUrl}${walletPath}`, settings.pollMs);
      await sleep(300);
      if (polls.polls.some((p) => p.status !== 200)) throw new Error(`the wallet route answered ${polls.polls.find((p) => p.status !== 200)!.status} before the stop`);
      const firstFailure = polls.first((p) => p.status !== 200);

      // Orders through the monolith while payments is away: every BENCH_ORDER_EVERY_MS until the route answers again.
      const orderIds: string[] = [];
      let ordersRefused = 0;
      let windowOpen = true;
      let placingError: unknown;
      const placing = (async () => {
        while (windowOpen) {
          const next = performance.now() + settings.orderEveryMs;
          const res = await post(`${monolithUrl}/api/orders`, { customerId, items: [{ productId, quantity: 1 + (orderIds.length % 3) }] });
          if (res.status === 202) orderIds.push(res.body.id as string);
          else if (res.status === 429) ordersRefused += 1;
          else throw new Error(`POST /api/orders answered ${res.status} during the window: ${JSON.stringify(res.body)}`);
          await sleep(Math.max(0, next - performance.now()));
        }
      })().catch((error: unknown) => {
        windowOpen = false;
        placingError = error;
      });

      let drainTimedOut = false;
      service.onLine.add((line) => {
        if (line.includes('requests still in flight at shutdown')) drainTimedOut = true;
      });
      const sigterm = performance.now();
      // Up to 30 s: the kit's own drain timeout (10 s) must show, not a kill of the bench's.
      const stopped = await stopGroup(service, 'SIGTERM', 30_000);
      running.splice(running.indexOf(service), 1);
      // The operator's move; a refusal because the stopped process's connections are still listed is retried.
      let moveAttempts = 0;
      let move: CommandResult;
      const meter = await CpuMeter.open({ pid: monolith.child.pid });
      const cpuBefore = await meter.snapshot();
      for (;;) {
        moveAttempts += 1;
        move = await moveData(dir, from, to);
        if (move.code === 2 && /connection\(s\) of a process that runs payments/.test(move.stderr) && moveAttempts < 20) {
          await sleep(100);
          continue;
        }
        break;
      }
      const moved = performance.now();
      const moveCpu = cpuPerUnit(cpuBefore, await meter.snapshot(), 1);
      await meter.close();
      // The seeded wallets and one of the bench's customers per move so far.
      const moveReport = parseMove(move, settings.wallets + k + 1);
      service = startService(to);
      running.push(service);
      // It logs `started` once it listens (after its migrations check, the Redis connection and the workers).
      const listening = (await waitForLine(service, isStarted, 120_000)).at;
      const failure = await firstFailure;
      const back = await polls.first((p) => p.status === 200 && p.sent > failure.sent);
      const health = await fetch(`${serviceUrl}/health`);
      if (health.status !== 200) throw new Error(`the service's /health answered ${health.status} after the move: ${await health.text()}`);
      // A poll sent a moment before this process read the log line may already get its 200: the earlier of the two.
      const ready = Math.min(listening, back.sent);
      windowOpen = false;
      await polls.stop();
      await placing;
      if (placingError) throw placingError;

      // Nothing lost: every order placed in the window is confirmed, and paid once.
      const deadline = performance.now() + 120_000;
      let totals = 0;
      for (const id of orderIds) {
        for (;;) {
          const res = await fetch(`${monolithUrl}/api/orders/${id}`);
          const order = (await res.json()) as { status?: string; totalCents?: number; cancelReason?: string };
          if (order.status && order.status !== 'pending') {
            if (order.status !== 'confirmed') throw new Error(`order ${id} placed during the window ended ${order.status} (${order.cancelReason ?? ''})`);
            totals += order.totalCents!;
            break;
          }
          if (performance.now() > deadline) throw new Error(`order ${id} placed during the window was still pending 120 s after`);
          await sleep(50);
        }
      }
      const settled = performance.now();
      const after = await fetch(`${monolithUrl}/api/payments/wallets/${customerId}`);
      const { balanceCents } = (await after.json()) as { balanceCents: number };
      if (balanceCents !== balance - totals) throw new Error(`the wallet of ${customerId} holds ${balanceCents}, expected ${balance - totals}: a payment was lost or taken twice`);

      const windowPolls = polls.polls.filter((p) => p.sent >= failure.sent && p.sent < back.sent);
      const statuses = new Map<number, number>();
      for (const p of windowPolls) statuses.set(p.status, (statuses.get(p.status) ?? 0) + 1);
      const run: WindowRun = {
        from,
        to,
        windowMs: back.sent - failure.sent,
        firstFailureAfterSigtermMs: failure.sent - sigterm,
        stopMs: stopped - sigterm,
        moveMs: moved - stopped,
        moveAttempts,
        moveSelfMs: moveReport.selfMs,
        drainTimedOut,
        moveMonolithCores: moveCpu.cores,
        moveOtherCores: moveCpu.otherCores,
        startMs: ready - moved,
        monolithMs: back.sent - ready,
        statuses,
        orders: orderIds.length,
        ordersRefused,
        settleAfterWindowMs: settled - back.sent,
      };
      runs.push(run);
      console.log(
        `  move ${k + 1} (${from === monolithDb ? 'monolith db → service db' : 'service db → monolith db'}): window ${seconds(run.windowMs)} = ` +
          `stop ${seconds(run.stopMs)}${drainTimedOut ? ' (its drain timeout ran out: requests still in flight)' : ''} + move-data ${seconds(run.moveMs)}${moveAttempts > 1 ? ` (${moveAttempts} attempts)` : ''} + start to listening ${seconds(run.startMs)} + ` +
          `until the monolith answers 200 ${seconds(run.monolithMs)} (first non-200 poll sent ${fmt(run.firstFailureAfterSigtermMs)} ms from the SIGTERM); ` +
          `answers in the window: ${[...statuses].map(([s, c]) => `${c}× ${s || 'no answer'}`).join(', ')}; ` +
          `while move-data ran the monolith used ${fmt(run.moveMonolithCores, 2)} cores, the rest of the machine ${fmt(run.moveOtherCores, 2)}; ` +
          `${run.orders} orders placed in it (${ordersRefused} refused 429), all confirmed and paid once ${seconds(run.settleAfterWindowMs)} after`,
      );
      current = to;
    }
    return runs;
  } finally {
    for (const child of running.reverse()) await stopGroup(child, 'SIGTERM').catch(() => undefined);
  }
}

function reportWindow(runs: WindowRun[]): { ok: boolean; text: string } {
  const part = (pick: (r: WindowRun) => number) => runs.map(pick);
  const rows: Array<[string, number[]]> = [
    ['window: first non-200 to first 200 after', part((r) => r.windowMs)],
    ['  stop: SIGTERM to the service exited (SHUTDOWN_GRACE_MS=0)', part((r) => r.stopMs)],
    ['  npm run move-data -- payments --from … --to …', part((r) => r.moveMs)],
    ['    of which the time it prints (its work after its start-up)', part((r) => r.moveSelfMs)],
    ['  start: node dist/main.js to listening (its "started" log line)', part((r) => r.startMs)],
    ['  until the monolith answers 200 (its breaker lets a trial through)', part((r) => r.monolithMs)],
    ['orders placed in the window: confirmed once the service is back', part((r) => r.settleAfterWindowMs)],
  ];
  const halfOpen = settings.monolithEnv.REMOTE_BREAKER_HALF_OPEN_MS ?? '5000 (default)';
  console.log(
    `\n3. the window during which GET /api/payments/wallets/:id through the monolith does not answer 200 (polled every ${settings.pollMs} ms), ` +
      `${fmt(settings.wallets)} wallets; the operator's sequence: SIGTERM the service, npm run move-data, node dist/main.js on the other database; ` +
      `${runs.length} moves, back and forth; monolith REMOTE_BREAKER_HALF_OPEN_MS ${halfOpen}\n\n` +
      table(
        ['', 'median', ...runs.map((_, i) => `move ${i + 1}`)],
        rows.map(([name, values]) => [name, seconds(median(values)), ...values.map((v) => seconds(v))]),
      ) +
      `\n\norders placed during the windows: ${runs.map((r) => r.orders).join(', ')} (refused 429: ${runs.map((r) => r.ordersRefused).join(', ')}); every one confirmed, each customer's balance down by exactly its orders' totals` +
      `\nwhile move-data ran (median): the monolith used ${fmt(median(part((r) => r.moveMonolithCores)), 2)} cores, the rest of the machine ${fmt(median(part((r) => r.moveOtherCores)), 2)} (move-data, PostgreSQL, this process's polls) of ${availableParallelism()}` +
      `\nstops where the service's drain timeout ran out (it kept serving the monolith's keep-alive connection until then): ${runs.filter((r) => r.drainTimedOut).length} of ${runs.length}`,
  );
  const windowMs = median(part((r) => r.windowMs));
  const parts: Array<[string, number]> = [
    ['stop', median(part((r) => r.stopMs))],
    ['move-data', median(part((r) => r.moveMs))],
    ['start to listening', median(part((r) => r.startMs))],
    ["the monolith's breaker (until it sends requests to the service again)", median(part((r) => r.monolithMs))],
  ];
  const [dominant, dominantMs] = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  const ok = windowMs <= GOAL_WINDOW_MS;
  const worst = Math.max(...part((r) => r.windowMs));
  // The service listens again after stop + move-data + start; the monolith's breaker then adds up to REMOTE_BREAKER_HALF_OPEN_MS.
  const serviceBack = median(part((r) => r.windowMs - r.monolithMs));
  const text =
    `503 window ${seconds(windowMs)} (median of ${runs.length}; longest ${seconds(worst)}) for ${fmt(settings.wallets)} wallet rows, goal <= ${GOAL_WINDOW_MS / 1000} s: ${ok ? 'met' : 'MISSED'}` +
    `; the largest part: ${dominant}, ${seconds(dominantMs)} (${fmt((100 * dominantMs) / windowMs)} %)` +
    `; the service listened again ${seconds(serviceBack)} after the first non-200 (median; stop + move-data + start), the rest is the monolith's breaker`;
  return { ok, text };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  console.log(
    `bench:extract  extract, move-data and the 503 window of payments, ${fmt(settings.wallets)} wallet rows\n` +
      `  node ${process.version}, ${availableParallelism()} cores, load average ${load()}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC\n` +
      `  scratch clone of ${commit}, databases ${prefix}_*, queue prefix ${queuePrefix}; parts ${settings.parts.join(', ')}\n` +
      `  other busy processes now: ${busyProcesses() || 'none'}`,
  );
  const dir = makeClone();
  const missed: string[] = [];
  const verdicts: string[] = [];
  try {
    if (settings.parts.includes('extract')) {
      console.log(`\nextract: ${settings.extractReps} rounds`);
      reportExtract(await benchExtract(dir));
    }
    if (settings.parts.includes('move')) {
      console.log(`\nmove-data: ${settings.moveReps} rounds`);
      reportMove(await benchMove(dir));
    }
    if (settings.parts.includes('window')) {
      console.log(`\nthe 503 window: ${settings.windowReps} moves`);
      const { ok, text } = reportWindow(await benchWindow(dir));
      verdicts.push(text);
      if (!ok) missed.push(text);
    }
  } finally {
    killAllGroups();
    await dropAllDatabases();
    await dropQueueKeys();
    removeClone();
  }
  console.log(`\n${verdicts.join('\n')}${verdicts.length ? '\n' : ''}load average at the end: ${load()}; other busy processes now: ${busyProcesses() || 'none'}`);
  if (missed.length === 0) return 0;
  console.log(`\nGOAL MISSED (exit code 2):\n${missed.map((m) => `  - ${m}`).join('\n')}`);
  return 2;
}

let cleaning = false;
async function cleanUp(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  killAllGroups();
  await dropAllDatabases();
  await dropQueueKeys();
  removeClone();
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}
process.once('exit', killAllGroups);

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    void cleanUp().finally(() => process.exit(1));
  },
);
