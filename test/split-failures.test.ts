import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants } from './support/invariants.js';
import type { ShopClient } from './support/shop-client.js';
import { everyModuleApart, gatewayPlusPayments, type RunningSplit } from './support/split-topology.js';

// Short on purpose: the tests wait for timeouts and for the breaker to half-open.
const TIMEOUT_MS = 600;
const HALF_OPEN_MS = 1_500;
const FAILURE_ENV = { REMOTE_TIMEOUT_MS: String(TIMEOUT_MS), REMOTE_BREAKER_HALF_OPEN_MS: String(HALF_OPEN_MS) };

async function timed(shop: ShopClient, method: string, path: string, body?: unknown) {
  const started = performance.now();
  const res = await shop.request(method, path, body);
  return { status: res.status, code: res.body?.error?.code as string | undefined, ms: performance.now() - started, requestId: res.headers.get('x-request-id') };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function health(shop: ShopClient) {
  const res = await shop.request('GET', '/health');
  return { httpStatus: res.status, status: res.body.status, payments: res.body.modules.payments };
}

describe('payments in its own process: frozen (SIGSTOP), then killed (SIGKILL)', () => {
  let running: RunningSplit;
  beforeAll(async () => {
    running = await gatewayPlusPayments(FAILURE_ENV).start();
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
  });

  it('answers 503 within the timeout, then fast once the breaker is open; other modules serve; orders placed meanwhile settle after SIGCONT', async () => {
    const { shop } = running;
    const product = await shop.createProduct(5, 1_000);
    const wallet = await shop.createWallet(10_000);
    expect((await shop.request('GET', `/api/payments/wallets/${wallet.customerId}`)).status).toBe(200);
    const payments = running.processes.get('payments')!;
    payments.process.kill('SIGSTOP');
    try {
      // Until the breaker opens (5 consecutive failures), each call waits for the timeout.
      const slow = [];
      for (let i = 0; i < 5; i += 1) slow.push(await timed(shop, 'GET', `/api/payments/wallets/${wallet.customerId}`));
      for (const call of slow) {
        expect(call).toMatchObject({ status: 503, code: 'PAYMENTS.UNAVAILABLE' });
        expect(call.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
        expect(call.ms).toBeLessThan(TIMEOUT_MS + 1_000);
      }
      const fast = [];
      for (let i = 0; i < 5; i += 1) fast.push(await timed(shop, 'GET', `/api/payments/wallets/${wallet.customerId}`));
      for (const call of fast) expect(call).toMatchObject({ status: 503, code: 'PAYMENTS.UNAVAILABLE' });
      expect(median(fast.map((c) => c.ms))).toBeLessThan(100);
      expect(await health(shop)).toMatchObject({ httpStatus: 200, status: 'degraded', payments: { location: 'remote', status: 'down', breaker: 'open' } });

      // The other modules are not held up, and the saga takes orders: their events wait for payments.
      expect((await shop.request('GET', `/api/catalog/products/${product.id}`)).status).toBe(200);
      const placed = await Promise.all([1, 2].map(() => shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])));
      expect(placed.map((p) => p.status)).toEqual([202, 202]);
      const orderIds = placed.map((p) => p.body.id as string);
      await new Promise((done) => setTimeout(done, 500));
      for (const id of orderIds) expect((await shop.getOrder(id)).status).toBe('pending');

      payments.process.kill('SIGCONT');
      await expectInvariants(
        shop,
        { products: [{ id: product.id, initialStock: 5 }], wallets: [{ customerId: wallet.customerId, initialBalance: 10_000 }], orderIds },
        { ledger: running.ledger, timeoutMs: 30_000 },
      );
      expect((await shop.waitSettled(orderIds)).map((o) => o.status)).toEqual(['confirmed', 'confirmed']);
      // The breaker half-opens after REMOTE_BREAKER_HALF_OPEN_MS; one trial call closes it.
      await expect
        .poll(async () => (await shop.request('GET', `/api/payments/wallets/${wallet.customerId}`)).status, { timeout: HALF_OPEN_MS * 4, interval: 200 })
        .toBe(200);
      expect(await health(shop)).toMatchObject({ httpStatus: 200, status: 'up', payments: { status: 'up', breaker: 'closed' } });
    } finally {
      payments.process.kill('SIGCONT');
    }
  }, 120_000);

  it('answers 503 JSON when the service is killed, for a request in flight too, and catches up once it runs again', async () => {
    const { shop } = running;
    const product = await shop.createProduct(3, 500);
    const wallet = await shop.createWallet(5_000);
    const payments = running.processes.get('payments')!;
    // A request in flight when the service dies: frozen first, so the request is surely inside it.
    payments.process.kill('SIGSTOP');
    const inFlight = timed(shop, 'GET', `/api/payments/wallets/${wallet.customerId}`);
    await new Promise((done) => setTimeout(done, 100));
    await payments.kill('SIGKILL');
    expect(await inFlight).toMatchObject({ status: 503, code: 'PAYMENTS.UNAVAILABLE' });
    for (let i = 0; i < 7; i += 1) {
      const call = await timed(shop, 'POST', '/api/payments/wallets', { customerId: `dead-${i}`, balanceCents: 1 });
      expect(call).toMatchObject({ status: 503, code: 'PAYMENTS.UNAVAILABLE' });
      expect(call.requestId).toMatch(/\S/);
    }
    expect(await health(shop)).toMatchObject({ httpStatus: 200, status: 'degraded', payments: { status: 'down' } });

    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 2 }]);
    expect(placed.status).toBe(202);
    await running.restart('payments');
    await expectInvariants(
      shop,
      { products: [{ id: product.id, initialStock: 3 }], wallets: [{ customerId: wallet.customerId, initialBalance: 5_000 }], orderIds: [placed.body.id] },
      { ledger: running.ledger, timeoutMs: 30_000 },
    );
    expect((await shop.getOrder(placed.body.id)).status).toBe('confirmed');
    // Nothing was created by the refused calls.
    await expect.poll(async () => (await shop.request('GET', '/api/payments/wallets/dead-0')).status, { timeout: HALF_OPEN_MS * 4, interval: 200 }).toBe(404);
  }, 120_000);
});

describe('a consumer whose service starts late', () => {
  let running: RunningSplit;
  beforeAll(async () => {
    running = await gatewayPlusPayments(FAILURE_ENV, ['payments']).start();
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
  });

  it('handles the events published before its service ever started', async () => {
    const { shop } = running;
    // Payments has never run: its routes are unavailable, its database has no tables yet.
    expect(await timed(shop, 'GET', '/api/payments/wallets/anyone')).toMatchObject({ status: 503, code: 'PAYMENTS.UNAVAILABLE' });
    const product = await shop.createProduct(4, 700);
    const placed = await Promise.all([1, 2, 3].map(() => shop.placeOrder('late-customer', [{ productId: product.id, quantity: 1 }])));
    expect(placed.map((p) => p.status)).toEqual([202, 202, 202]);
    const orderIds = placed.map((p) => p.body.id as string);
    // Stock is reserved (catalog runs); the payment waits in payments' queue.
    await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 10_000 }).toBe(1);
    for (const id of orderIds) expect((await shop.getOrder(id)).status).toBe('pending');

    await running.restart('payments');
    const orders = await shop.waitSettled(orderIds, 30_000);
    // No wallet: every order is declined by the late payments, and its stock released.
    expect(orders.map((o) => [o.status, o.cancelReason])).toEqual(orderIds.map(() => ['cancelled', 'payment_declined']));
    await expectInvariants(shop, { products: [{ id: product.id, initialStock: 4 }], wallets: [], orderIds }, { ledger: running.ledger, timeoutMs: 30_000 });
  }, 120_000);
});

describe('every module apart: a frozen module behind another one', () => {
  let running: RunningSplit;
  beforeAll(async () => {
    // The gateway waits longer than the services it fronts (docs/topology.md): a route whose service
    // waits on a frozen module answers its own 503 first.
    running = await everyModuleApart(FAILURE_ENV, { REMOTE_TIMEOUT_MS: String(TIMEOUT_MS * 4) }).start();
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
  });

  it("fails only the routes that need the frozen module: orders keeps answering, and the gateway's breaker of orders stays closed", async () => {
    const { shop } = running;
    const product = await shop.createProduct(5, 1_000);
    const wallet = await shop.createWallet(10_000);
    const first = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    expect(first.status).toBe(202);
    // Settled first: no event waits on catalog, so nothing is shed for lag (that is another test).
    expect((await shop.waitSettled([first.body.id]))[0]!.status).toBe('confirmed');
    const catalog = running.processes.get('catalog')!;
    catalog.process.kill('SIGSTOP');
    try {
      // Placing an order prices it through catalog: orders answers 503 CATALOG.UNAVAILABLE, again and again.
      for (let i = 0; i < 7; i += 1) {
        expect(await timed(shop, 'POST', '/api/orders', { customerId: wallet.customerId, items: [{ productId: product.id, quantity: 1 }] })).toMatchObject({
          status: 503,
          code: 'CATALOG.UNAVAILABLE',
        });
      }
      // Orders itself is up: its other routes answer, through a breaker that did not count catalog's outage.
      expect(await timed(shop, 'GET', `/api/orders/${first.body.id}`)).toMatchObject({ status: 200, code: undefined });
      expect((await shop.request('GET', '/health')).body.modules).toMatchObject({ orders: { status: 'up', breaker: 'closed' }, catalog: { status: 'down' } });
      expect(await timed(shop, 'GET', `/api/payments/wallets/${wallet.customerId}`)).toMatchObject({ status: 200, code: undefined });
    } finally {
      catalog.process.kill('SIGCONT');
    }
    await expect
      .poll(async () => (await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])).status, { timeout: HALF_OPEN_MS * 4, interval: 200 })
      .toBe(202);
  }, 120_000);
});
