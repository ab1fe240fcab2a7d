import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants } from './support/invariants.js';
import { bullmqTopology, postgresTopology, type RunningShop } from './support/topologies.js';

// Admission control under a load the saga cannot keep up with. The saga is
// made slow on cue (the test-only fault point delays catalog's reservation
// by 15 ms an order, one transaction at a time: about 60 orders/s), and 16
// clients post orders as fast as they are answered, ignoring Retry-After:
// the worst offered load. The lag bound is 400 ms, so without shedding the
// backlog would grow by hundreds of orders a second.
const MAX_LAG_MS = 400;
const SLOW_SAGA = {
  ADMISSION_MAX_LAG_MS: String(MAX_LAG_MS),
  ADMISSION_SAMPLE_MS: '50',
  EVENT_HANDLER_CONCURRENCY: '1',
  MMK_FAULT_POINTS: 'event.before-handle:catalog.reserve-stock=delay@15',
};
const LOAD_MS = 3_000;
const CLIENTS = 16;

describe.each([postgresTopology({}, 'PostgreSQL + memory bus', SLOW_SAGA), bullmqTopology({}, 'PostgreSQL + BullMQ', SLOW_SAGA)])('overload on $name', (topology) => {
  let running: RunningShop;
  beforeAll(async () => {
    running = await topology.start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('sheds orders with 429 and Retry-After, settles every accepted order within the bound, loses nothing and keeps answering reads', async () => {
    const { shop, app } = running;
    const products = await Promise.all([shop.createProduct(100_000, 100), shop.createProduct(100_000, 250)]);
    const wallets = await Promise.all(Array.from({ length: 4 }, () => shop.createWallet(1_000_000_000)));
    const accepted: string[] = [];
    const refusals: Array<{ retryAfter: string | null; code: string }> = [];
    const readStatuses: number[] = [];
    const healthStatuses = new Set<string>();
    const deadline = Date.now() + LOAD_MS;

    const client = async (c: number) => {
      for (let i = 0; Date.now() < deadline; i += 1) {
        const res = await shop.placeOrder(wallets[(c + i) % wallets.length]!.customerId, [{ productId: products[(c + i) % 2]!.id, quantity: 1 }]);
        if (res.status === 202) accepted.push(res.body.id);
        else if (res.status === 429) refusals.push({ retryAfter: res.headers.get('retry-after'), code: res.body.error.code });
        else throw new Error(`unexpected ${res.status}: ${JSON.stringify(res.body)}`);
      }
    };
    const reader = async () => {
      while (Date.now() < deadline) {
        readStatuses.push((await shop.request('GET', `/api/catalog/products/${products[0]!.id}`)).status);
        await sleep(20);
      }
    };
    const healthWatcher = async () => {
      while (Date.now() < deadline) {
        const health = await shop.request('GET', '/health');
        expect(health.status).toBe(200);
        healthStatuses.add(health.body.status);
        await sleep(50);
      }
    };
    await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), reader(), healthWatcher()]);

    // Shedding engaged, and said when to come back.
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) {
      expect(refusal.code).toBe('KERNEL.OVERLOADED');
      expect(refusal.retryAfter).toMatch(/^[1-9]\d*$/);
    }
    expect(healthStatuses).toContain('degraded');
    const metrics = (await shop.request('GET', '/metrics')).body as string;
    expect(metrics).toContain(`http_requests_shed_total{route="/api/orders"} ${refusals.length}`);
    // Reads were never refused.
    expect(readStatuses.length).toBeGreaterThan(20);
    expect(new Set(readStatuses)).toEqual(new Set([200]));

    // Nothing accepted is lost: every order settles, and the invariants hold.
    expect(accepted.length).toBeGreaterThan(20);
    await expectInvariants(
      shop,
      {
        products: products.map((p) => ({ id: p.id, initialStock: 100_000 })),
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds: accepted,
      },
      { ledger: running.ledger },
    );
    // Each settled within the bound's reach: created (before its 202) to the moment it left pending. The tail is the
    // orders admitted in the first few hundred ms, before their wait shows as lag (about 60 orders/s settle here):
    // 2.0-3.2 s over 11 runs on the 2-core machine (2026-12-02), more the faster the clients post (the 3 s this bound
    // was first missed by 0.05-0.2 s in CI); without shedding the clients' 1,400-4,600 posts in 3 s would all be
    // admitted, a backlog of 25 s and more at 60 orders/s.
    const times = await app.database.forModule('orders').query<{ ms: number }>(
      `select (extract(epoch from updated_at - created_at) * 1000)::float8 as ms from orders where id = any($1::uuid[]) order by 1`,
      [accepted],
    );
    expect(times).toHaveLength(accepted.length);
    const slowest = times.at(-1)!.ms;
    expect(slowest, `slowest 202 → settled of ${accepted.length} accepted orders`).toBeLessThan(5_000);
    // Once the load is gone the lag drains and the kit stops shedding.
    await expect.poll(async () => (await shop.request('GET', '/health')).body.status, { timeout: 10_000 }).toBe('up');
    const after = await shop.placeOrder(wallets[0]!.customerId, [{ productId: products[0]!.id, quantity: 1 }]);
    expect(after.status).toBe(202);
  });
});
