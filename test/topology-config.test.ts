import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * A bad topology stops `src/main.ts` before it opens anything: exit code 1
 * and exactly one line on stderr naming the setting (or the file) to fix.
 * The children run four at a time (each fails within its start-up); each is
 * killed by its pid if it outlives its time.
 */

const ROOT = new URL('..', import.meta.url).pathname;
const SECRET = 'test-secret-0123456789-0123456789-abcdef';
const REMOTE_OK = { EVENT_BUS: 'bullmq', SERVICE_TOKEN_SECRET: SECRET };
/** Children at once: two cores, and each start-up loads the whole shop. */
const PARALLEL = 4;
const CHILD_TIMEOUT_MS = 60_000;

const dir = mkdtempSync(join(tmpdir(), 'mmk-topology-e2e-'));
const started = new Set<number>();

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the shop as `npm start` does, with only these settings. A child that
 * got past its configuration would reach the database and Redis, which point
 * at a closed port, so it could not start serving either (and would print
 * another line). About 3 s of CPU each, most of it loading the shop: the
 * file is bound by the two cores, not by the waiting.
 */
function runMain(env: Record<string, string>): Promise<Exit> {
  return slot(() => spawnMain(env));
}

let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((go) => waiting.push(go));
  running += 1;
  try {
    return await work();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function spawnMain(env: Record<string, string>): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: '0',
      DATA_DIR: join(dir, 'data'),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/never',
      REDIS_URL: 'redis://127.0.0.1:1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      started.delete(child.pid!);
      resolve({ code, stdout, stderr });
    });
  });
}

const unknownModuleFile = file('unknown-module.json', JSON.stringify({ modules: { inventory: { location: 'local' } } }));
const brokenFile = file('broken.json', '{"modules": {"catalog": {"location": "local"},}}');
const badUrlFile = file('bad-url.json', JSON.stringify({ modules: { catalog: { location: 'remote', url: 'ftp://127.0.0.1:4001' } } }));

const esc = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const line = (text: string) => new RegExp(`^${esc(text)}$`);

/** Settings, and the one line main.ts must print for them. */
const CASES: Array<[name: string, env: Record<string, string>, expected: RegExp]> = [
  [
    'a module that runs nowhere',
    { MODULES: 'catalog,payments,shipping', ...REMOTE_OK },
    line('Invalid setting MODULES: module orders runs nowhere (it is not in MODULES); add it to MODULES or set SERVICE_URL_ORDERS to the URL of the process that runs it'),
  ],
  [
    'an unknown module in MODULES',
    { MODULES: 'catalog,inventory' },
    line('Invalid setting MODULES: unknown module "inventory" (modules: catalog, orders, payments, shipping)'),
  ],
  [
    'SERVICE_URL_ of an unknown module',
    { SERVICE_URL_INVENTORY: 'http://127.0.0.1:4009', ...REMOTE_OK },
    line('Invalid setting SERVICE_URL_INVENTORY: there is no module "inventory" (modules: catalog, orders, payments, shipping)'),
  ],
  [
    'a remote module on the memory bus',
    { MODULES: 'catalog,orders,payments', SERVICE_URL_SHIPPING: 'http://127.0.0.1:4004', SERVICE_TOKEN_SECRET: SECRET },
    line('Invalid setting EVENT_BUS: shipping runs in another process and the memory bus does not cross processes; set EVENT_BUS=bullmq'),
  ],
  [
    'a remote module without SERVICE_TOKEN_SECRET',
    { MODULES: 'orders,payments,shipping', SERVICE_URL_CATALOG: 'http://127.0.0.1:4001', EVENT_BUS: 'bullmq' },
    line('Invalid setting SERVICE_TOKEN_SECRET: required because catalog runs in another process; set the same random string of at least 32 characters in every process'),
  ],
  [
    'a short SERVICE_TOKEN_SECRET (not shown)',
    { SERVICE_TOKEN_SECRET: 'too-short-secret' },
    line('Invalid setting SERVICE_TOKEN_SECRET: expected at least 32 characters (use a random string, the same in every process) (got 16 characters, not shown)'),
  ],
  ...['ftp://127.0.0.1:4001', '127.0.0.1:4001', 'http://127.0.0.1:4001/?x=1', 'http://127.0.0.1:4001/catalog'].map(
    (url): [string, Record<string, string>, RegExp] => [
      `a malformed SERVICE_URL_CATALOG ${url}`,
      { MODULES: 'orders,payments,shipping', SERVICE_URL_CATALOG: url, ...REMOTE_OK },
      line(`Invalid setting SERVICE_URL_CATALOG: expected an http:// or https:// base URL without path, query, fragment or credentials, such as http://127.0.0.1:4002 (got ${JSON.stringify(url)})`),
    ],
  ),
  [
    'a topology file naming an unknown module',
    { TOPOLOGY_FILE: unknownModuleFile },
    line(`Invalid topology file ${unknownModuleFile}: unknown module "inventory" (modules: catalog, orders, payments, shipping)`),
  ],
  ['a topology file that is not JSON', { TOPOLOGY_FILE: brokenFile }, new RegExp(`^${esc(`Invalid topology file ${brokenFile}: not JSON (`)}[^\\n]+\\)$`)],
  [
    'a topology file with a bad url',
    { TOPOLOGY_FILE: badUrlFile, ...REMOTE_OK },
    line(`Invalid topology file ${badUrlFile}: modules.catalog.url: expected an http:// or https:// base URL without path, query, fragment or credentials (got "ftp://127.0.0.1:4001")`),
  ],
];

// Started at once (PARALLEL at a time), awaited one by one.
const exits = new Map(CASES.map(([name, env]) => [name, runMain(env)]));

describe('node src/main.ts with a bad topology', () => {
  it.each(CASES)('%s: exit 1 and one line on stderr', { timeout: 120_000 }, async (name, _env, expected) => {
    const { code, stdout, stderr } = await exits.get(name)!;
    expect(stderr.endsWith('\n'), JSON.stringify({ code, stdout, stderr })).toBe(true);
    const lines = stderr.slice(0, -1).split('\n');
    expect(lines, stderr).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
    expect(code).toBe(1);
    // Nothing was started, so nothing was logged.
    expect(stdout).toBe('');
  });
});
