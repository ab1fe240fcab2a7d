import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { ShopClient } from './support/shop-client.js';

const ROOT = new URL('..', import.meta.url).pathname;
// A refused process exits within seconds; one that is not refused serves until this kills it.
const EXIT_TIMEOUT_MS = 30_000;

let dataDir = '';
let folder = '';
const children: ChildApp[] = [];
// Runs that have not exited: killed after each test, so that a run this test failed to refuse does not outlive it.
const runs = new Set<ChildProcess>();

/** `npm start` on the test's data folder, as a child process; see startChildApp. */
async function start(): Promise<ChildApp> {
  const child = await startChildApp({ DATA_DIR: dataDir, DATABASE_URL: '' });
  children.push(child);
  return child;
}

interface Run {
  /** null when it did not exit by itself in time. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one of the kit's entry points on the test's data folder until it exits. */
function run(script: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', PORT: '0' };
    const child = execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env, timeout: EXIT_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      runs.delete(child);
      resolve({ code: error ? (error.killed ? null : Number(error.code)) : 0, stdout, stderr });
    });
    runs.add(child);
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The one line a process refused the folder prints: the folder, the holder's pid, what to do. */
function expectRefusal(result: Run, holderPid: number): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^Data folder ${escape(folder)} is in use by process ${holderPid} \\(.+\\): `));
  expect(lines[0]).toContain('Stop that process first');
  expect(lines[0]).toContain('DATABASE_URL');
}

async function createProducts(shop: ShopClient, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) ids.push((await shop.createProduct(5)).id);
  return ids;
}

async function productIds(shop: ShopClient): Promise<string[]> {
  const res = await shop.request<Array<{ id: string }>>('GET', '/api/catalog/products?limit=500');
  expect(res.status).toBe(200);
  return res.body.map((p) => p.id).sort();
}

const tookOver = (child: ChildApp) => child.lines.filter((line) => line.includes('took over the stale lock'));

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mmk-lock-'));
  folder = join(dataDir, 'pglite');
});

afterEach(async () => {
  for (const child of children.splice(0)) await child.kill('SIGKILL');
  for (const child of runs) child.kill('SIGKILL');
  runs.clear();
  await rm(dataDir, { recursive: true, force: true });
});

// Each test starts several processes that open PGlite; on two busy cores one start can take 20 s.
describe('one process per PGlite data folder', { timeout: 180_000 }, () => {
  it('a second start on the folder exits 1 with one line naming the holder; the first keeps serving and loses nothing', async () => {
    const first = await start();
    const shop = new ShopClient(first.url);
    const before = await createProducts(shop, 30);

    expectRefusal(await run('src/main.ts'), first.process.pid!);

    const after = await createProducts(shop, 30);
    expect(await first.kill('SIGTERM')).toBe(0);
    // A clean stop releases the lock: the next start has nothing to take over.
    expect(existsSync(`${folder}.lock`)).toBe(false);
    const restarted = await start();
    expect(tookOver(restarted)).toEqual([]);
    expect(await productIds(new ShopClient(restarted.url))).toEqual([...before, ...after].sort());
  });

  it('npm run migrate and npm run events refuse the folder while the app holds it, with one line', async () => {
    const app = await start();
    expectRefusal(await run('src/cli/migrate.ts'), app.process.pid!);
    const backlog = await run('src/cli/events.ts', ['backlog']);
    expectRefusal(backlog, app.process.pid!);
    expect(backlog.stdout).toBe('');
    expect((await new ShopClient(app.url).request('GET', '/health')).status).toBe(200);

    // Once the app is stopped, they run.
    await app.kill('SIGTERM');
    expect(await run('src/cli/events.ts', ['backlog'])).toMatchObject({ code: 0, stderr: '' });
  });

  it('after a SIGKILL of the holder, a restart takes the folder over at once and has the data written before the kill', async () => {
    const first = await start();
    const written = await createProducts(new ShopClient(first.url), 20);
    expect(await first.kill('SIGKILL')).toBeNull();
    expect(existsSync(`${folder}.lock`)).toBe(true);

    const restarted = await start();
    expect(tookOver(restarted).map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ level: 40, stalePid: first.process.pid, msg: expect.stringContaining(`from process ${first.process.pid}`) }),
    ]);
    expect(await productIds(new ShopClient(restarted.url))).toEqual(written.sort());
  });

  it('of two processes started at the same instant on a fresh folder, exactly one serves', async () => {
    const outcomes = await Promise.allSettled([start(), start()]);
    const winners = outcomes.filter((o): o is PromiseFulfilledResult<ChildApp> => o.status === 'fulfilled').map((o) => o.value);
    expect(winners).toHaveLength(1);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as Error;
    const [, stderr = ''] = /^child app exited with (?:\d+) before starting: ([\s\S]*)$/.exec(refused.message) ?? [];
    expectRefusal({ code: Number(/exited with (\d+)/.exec(refused.message)?.[1]), stdout: '', stderr }, winners[0]!.process.pid!);
    expect((await new ShopClient(winners[0]!.url).request('GET', '/health')).status).toBe(200);
  });
});
