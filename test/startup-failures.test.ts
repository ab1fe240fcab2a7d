import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';

const ROOT = new URL('..', import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const runs = new Set<ChildProcess>();

/** Runs one of the kit's entry points as `npm start` / `npm run migrate` / `npm run events` do, until it exits (killed by its pid after 60 s). */
function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      runs.delete(child);
      resolve({ code: error ? (error.killed ? null : Number(error.code)) : 0, stdout, stderr });
    });
    runs.add(child);
  });
}

/** A port in 23000-23999 held by a server of this test: something else listens there. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  for (let port = 23_600; port < 23_700; port++) {
    const server = createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, () => resolve(true));
    });
    if (ok) return { port, server };
  }
  throw new Error('no free port in 23600-23699');
}

/** A port in 23000-23999 nothing listens on (held for a moment, then closed). */
async function closedPort(): Promise<number> {
  const { port, server } = await holdPort();
  await new Promise((done) => server.close(done));
  return port;
}

function expectOneLine(result: Run, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  // No knex retry warnings or stack lines on stdout either: the line above is all the operator sees.
  expect(result.stdout).not.toContain('database warning');
  expect(result.stdout).not.toMatch(/^\s+at /m);
}

afterEach(() => {
  for (const child of runs) child.kill('SIGKILL');
  runs.clear();
});

describe('start-up failures a newcomer meets: one line naming the setting and the fix, exit code 1', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('mmk_startfail');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('PostgreSQL not running at DATABASE_URL: npm start, npm run migrate and npm run events', async () => {
    const url = `postgres://127.0.0.1:${await closedPort()}/x`;
    const line = new RegExp(`^cannot reach PostgreSQL at ${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(DATABASE_URL\\): connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+; start the server, or point DATABASE_URL at a running one \\(unset it to use the embedded PGlite\\)$`);
    const [start, migrate, events] = await Promise.all([
      run(['src/main.ts'], { DATABASE_URL: url, PORT: '0' }),
      run(['src/cli/migrate.ts'], { DATABASE_URL: url }),
      run(['src/cli/events.ts', 'list'], { DATABASE_URL: url }),
    ]);
    expectOneLine(start, line);
    expectOneLine(migrate, line);
    expectOneLine(events, line);
  });

  it('a database that does not exist, with the password kept out of the line', async () => {
    const missing = new URL(TEST_POSTGRES_URL);
    missing.pathname = `/mmk_missing_${process.pid}`;
    missing.password = 'hunter2';
    const result = await run(['src/main.ts'], { DATABASE_URL: missing.toString(), PORT: '0' });
    expectOneLine(result, /^cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@.+\/mmk_missing_\d+ \(DATABASE_URL\): .+; create the database \(createdb\) or fix the name in DATABASE_URL$/);
    expect(result.stderr).not.toContain('hunter2');
  });

  it('PORT in use by another process', async () => {
    const { port, server } = await holdPort();
    try {
      const result = await run(['src/main.ts'], { DATABASE_URL: database.url, PORT: String(port) });
      expectOneLine(result, new RegExp(`^Invalid setting PORT: port ${port} is in use by another process; stop that process, or set PORT to a free port \\(PORT=0 picks one\\)$`));
    } finally {
      await new Promise((done) => server.close(done));
    }
  });
});

describe('the embedded default\'s first start', () => {
  let dataDir = '';
  let child: ChildApp | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mmk-first-'));
  });
  afterAll(async () => {
    await child?.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the PGlite folder in a child process, clears a killed start\'s draft, and keeps its own memory small', async () => {
    // What a first start killed during initdb leaves: a draft beside the folder.
    mkdirSync(join(dataDir, 'pglite.init-999999', 'base'), { recursive: true });
    child = await startChildApp({ DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(readdirSync(dataDir).sort()).toEqual(['pglite', 'pglite.lock']);
    expect(existsSync(join(dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
    const shop = new ShopClient(child.url);
    expect((await shop.request('GET', '/health')).status).toBe(200);
    const product = await shop.createProduct(3);
    // initdb's temporary PGlite and its copies (500-600 MB, kept for good when initdb ran in the app) lived in the child.
    // Resident now, not the peak: on Node 24, V8 needs 500 MB for a moment while it optimises PGlite's wasm code.
    const residentMb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.process.pid}/status`, 'utf8'))![1]) / 1024;
    expect(residentMb).toBeLessThan(600);
    await child.kill('SIGTERM');
    child = await startChildApp({ DATA_DIR: dataDir, DATABASE_URL: '' });
    expect((await new ShopClient(child.url).request('GET', `/api/catalog/products/${product.id}`)).status).toBe(200);
  });

  it('refuses a folder that holds files but no PostgreSQL data, with one line naming DATA_DIR', async () => {
    const other = await mkdtemp(join(tmpdir(), 'mmk-notpg-'));
    try {
      mkdirSync(join(other, 'pglite'));
      writeFileSync(join(other, 'pglite', 'notes.txt'), 'not a database');
      const result = await run(['src/main.ts'], { DATA_DIR: other, DATABASE_URL: '', PORT: '0' });
      expectOneLine(result, /^Invalid setting DATA_DIR: .+\/pglite holds files but no PostgreSQL data \(no PG_VERSION\); delete that folder to start empty, or set DATA_DIR to another folder$/);
      expect(readFileSync(join(other, 'pglite', 'notes.txt'), 'utf8')).toBe('not a database');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
