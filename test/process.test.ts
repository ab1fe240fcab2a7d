import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_MODULES } from '../src/app.js';
import { startChildApp } from './support/child-app.js';
import { postgresLedger } from './support/event-ledger.js';
import { expectInvariants } from './support/invariants.js';
import { startOwnRedis } from './support/own-redis.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';

const run = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;

async function runNode(script: string, env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the process', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('mmk_proc');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it.each([
    [{ PORT: 'abc' }, 'Invalid setting PORT: expected an integer between 0 and 65535 (got "abc")'],
    [{ DATABASE_URL: 'mysql://localhost/x' }, 'Invalid setting DATABASE_URL: expected a URL starting with postgres:// or postgresql:// (got "mysql://localhost/x")'],
    [{ EVENT_BUS: 'kafka' }, 'Invalid setting EVENT_BUS: expected "memory" or "bullmq" (got "kafka")'],
    [{ EVENT_BUS: 'bullmq', REDIS_URL: 'http://127.0.0.1:6379' }, 'Invalid setting REDIS_URL: expected a URL starting with redis:// or rediss:// (got "http://127.0.0.1:6379")'],
    [{ ADMISSION_MAX_LAG_MS: '2s' }, 'Invalid setting ADMISSION_MAX_LAG_MS: expected an integer between 100 and 600000 (got "2s")'],
  ])('stops at start on a bad setting %o with one line naming it', async (env, line) => {
    const result = await runNode('src/main.ts', env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'))).toEqual([line]);
  });

  it('stops at start with one line when the BullMQ bus cannot reach Redis', async () => {
    const result = await runNode('src/main.ts', { DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: 'redis://:secret@127.0.0.1:1' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n').filter((l) => !l.startsWith('npm warn'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 \(REDIS_URL\): /);
  });

  it('warns at start when Redis may evict queued events', async () => {
    const redis = await startOwnRedis('allkeys-lru');
    try {
      const child = await startChildApp({ DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: redis.url });
      await child.kill('SIGTERM');
      const warning = child.lines.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg.includes('maxmemory-policy'));
      expect(warning).toMatchObject({ level: 40 });
      expect(warning!.msg).toContain('"allkeys-lru"');
    } finally {
      await redis.destroy();
    }
  });

  it('npm run migrate applies each module\'s migrations once and reports per module', async () => {
    const fresh = await createTestDatabase('mmk_migrate');
    try {
      const first = await runNode('src/cli/migrate.ts', { DATABASE_URL: fresh.url });
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/^catalog: applied 00000000000000_kernel-event-tables, 00000000000001_kernel-outbox-trace-parent, 20261122000100_create-products$/m);
      expect(first.stdout).toMatch(/^shipping: applied /m);
      const second = await runNode('src/cli/migrate.ts', { DATABASE_URL: fresh.url });
      expect(second.code).toBe(0);
      expect(second.stdout.trim().split('\n')).toEqual(['catalog: up to date', 'orders: up to date', 'payments: up to date', 'shipping: up to date']);
    } finally {
      await fresh.drop();
    }
  });

  it('on SIGTERM reports itself stopping for the grace period while it serves, then finishes the requests in flight, drains and exits 0', async () => {
    const fresh = await createTestDatabase('mmk_sigterm');
    let child = await startChildApp({ DATABASE_URL: fresh.url, SHUTDOWN_GRACE_MS: '1500' });
    try {
      let shop = new ShopClient(child.url);
      const product = await shop.createProduct(50, 100);
      const wallet = await shop.createWallet(100_000);
      // Settled at once, so requests cut before the server read them are not unhandled rejections.
      const inFlight = Promise.allSettled(Array.from({ length: 20 }, () => shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])));
      await new Promise((r) => setTimeout(r, 30));
      const signalledAt = Date.now();
      child.process.kill('SIGTERM');
      // The grace period: out of rotation (/health 503), yet still serving.
      await expect.poll(async () => (await shop.request('GET', '/health')).body.status, { interval: 20 }).toBe('stopping');
      expect((await shop.request('GET', '/health')).status).toBe(503);
      const late = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
      expect(late.status).toBe(202);
      expect((await child.exited).code).toBe(0);
      expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(1_500);
      const results = await inFlight;
      // Requests the server was working on got their answer; none got a 5xx.
      const answered = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(answered.length).toBeGreaterThan(0);
      expect(answered.map((a) => a.status)).toEqual(Array(answered.length).fill(202));
      expect(child.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);

      // Drained: the relays finished their rounds (no claim left behind), and every accepted order is stored.
      const admin = new pg.Client({ connectionString: fresh.url });
      await admin.connect();
      try {
        for (const schema of ['catalog', 'orders', 'payments', 'shipping']) {
          const { rows } = await admin.query(`select count(*)::int as n from ${schema}.outbox where published_at is null and claimed_until > now()`);
          expect(rows[0].n, `claimed, unpublished rows in ${schema}.outbox`).toBe(0);
        }
      } finally {
        await admin.end();
      }
      const accepted = [...answered, late].map((a) => a.body.id as string);
      child = await startChildApp({ DATABASE_URL: fresh.url });
      shop = new ShopClient(child.url);
      expect(await shop.ordersOf(wallet.customerId)).toEqual(expect.arrayContaining(accepted));
      const running = child;
      await expectInvariants(
        shop,
        {
          products: [{ id: product.id, initialStock: 50 }],
          wallets: [{ customerId: wallet.customerId, initialBalance: wallet.balanceCents }],
          orderIds: await shop.ordersOf(wallet.customerId),
        },
        { ledger: postgresLedger(fresh.url, SHOP_MODULES, () => [running.url]) },
      );
    } finally {
      await child.kill('SIGKILL');
      await fresh.drop();
    }
  });
});
