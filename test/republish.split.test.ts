import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants } from './support/invariants.js';
import { startOwnRedis, type OwnRedis } from './support/own-redis.js';
import { settledSaga } from './support/settled-saga.js';
import { gatewayPlusPayments, type RunningSplit } from './support/split-topology.js';

const ROOT = new URL('..', import.meta.url).pathname;

/** `npm run events -- <args>` as a child process, with the settings of one process of the split shop. */
function events(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/events.ts', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'error', ...env }, timeout: 120_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The `events_handled_total{outcome="duplicate"}` of every running process. */
async function duplicates(urls: readonly string[]): Promise<number> {
  let n = 0;
  for (const url of urls) for (const m of (await (await fetch(`${url}/metrics`)).text()).matchAll(/outcome="duplicate"\} (\d+)/g)) n += Number(m[1]);
  return n;
}

describe('events lost by Redis while a service is stopped, handed over again by events republish (gateway + payments)', () => {
  let redis: OwnRedis;
  let admin: Redis;
  let running: RunningSplit;
  beforeAll(async () => {
    // A Redis of this test's own: it is flushed below, which the shared one must never be.
    redis = await startOwnRedis();
    admin = new Redis(redis.url);
    running = await gatewayPlusPayments({ REDIS_URL: redis.url }).start();
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
    admin?.disconnect();
    await redis?.destroy();
  });

  it('stop payments, place orders, flush Redis, start payments: the orders stay pending until republish, then each settles exactly once', async () => {
    const { shop } = running;
    const since = new Date(Date.now() - 1_000);
    // Settled before the outage: republished with the rest, they must change nothing.
    const earlier = await settledSaga(shop);
    const product = await shop.createProduct(10, 500);
    const rich = await shop.createWallet(10_000);
    const poor = await shop.createWallet(300);

    await running.processes.get('payments')!.kill('SIGKILL');
    const placed = await Promise.all([
      shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 2 }]),
      shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 3 }]),
      shop.placeOrderAccepted(poor.customerId, [{ productId: product.id, quantity: 1 }]),
      shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 50 }]),
    ]);
    const orderIds = placed.map((p) => p.body.id as string);
    // Catalog (in the gateway) reserved the stock; the payments wait in payments' queue in Redis.
    await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 20_000 }).toBe(4);
    await expect.poll(async () => (await running.ledger.read()).unpublished, { timeout: 20_000 }).toBe(0);
    const prefix = running.envOf('gateway').EVENT_QUEUE_PREFIX!;
    expect(await admin.keys(`${prefix}:payments.*:wait`)).not.toEqual([]);

    // Redis restarts empty (no persistence): the waiting payments are gone.
    await admin.flushall();
    await running.restart('payments');
    await sleep(3_000);
    const waiting = await shop.waitSettled(orderIds.slice(3));
    expect(waiting.map((o) => [o.status, o.cancelReason])).toEqual([['cancelled', 'out_of_stock']]);
    for (const id of orderIds.slice(0, 3)) expect((await shop.getOrder(id)).status, 'an order whose payment was flushed away').toBe('pending');

    // The way back: each process's modules hand their events since `since` over again.
    const duplicatesBefore = await duplicates([...running.processes.values()].map((p) => p.url));
    const gateway = await events(['republish', '--since', since.toISOString()], running.envOf('gateway'));
    expect(gateway.stderr).toBe('');
    expect(gateway.code).toBe(0);
    const counts = Object.fromEntries([...gateway.stdout.matchAll(/^(catalog|orders|shipping)\s+(\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    expect(Object.keys(counts).sort()).toEqual(['catalog', 'orders', 'shipping']);
    // Catalog published at least the three StockReserved that were lost, orders at least the four OrderPlaced.
    expect(counts.catalog).toBeGreaterThanOrEqual(3 + 3);
    expect(counts.orders).toBeGreaterThanOrEqual(4 + 3);
    const payments = await events(['republish', '--since', '1h', '--module', 'payments'], running.envOf('payments'));
    expect(payments.code).toBe(0);
    expect(payments.stdout).toMatch(/^payments\s+\d+$/m);

    const orders = await shop.waitSettled(orderIds, 60_000);
    expect(orders.map((o) => [o.status, o.cancelReason])).toEqual([
      ['confirmed', undefined],
      ['confirmed', undefined],
      ['cancelled', 'payment_declined'],
      ['cancelled', 'out_of_stock'],
    ]);
    // Exactly once: stock, money and shipments add up, every event handled once by each consumer, nothing dead.
    await expectInvariants(
      shop,
      { products: [{ id: product.id, initialStock: 10 }], wallets: [rich, poor].map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })), orderIds },
      { ledger: running.ledger, timeoutMs: 30_000 },
    );
    expect((await shop.getWallet(rich.customerId)).balanceCents).toBe(10_000 - 5 * 500);
    expect(await earlier.state()).toEqual(earlier.before);
    // What the consumers had handled already came again and was skipped by their inboxes.
    expect(await duplicates([...running.processes.values()].map((p) => p.url))).toBeGreaterThan(duplicatesBefore);
  }, 240_000);
});
