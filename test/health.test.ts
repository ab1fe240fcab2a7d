import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTopology, type RunningShop } from './support/topologies.js';
import { TEST_POSTGRES_URL } from './support/postgres.js';

describe('/health and /metrics', () => {
  let running: RunningShop;
  const admin = knexFactory({ client: 'pg', connection: TEST_POSTGRES_URL, pool: { min: 0, max: 1 } });
  beforeAll(async () => {
    running = await postgresTopology().start();
  });
  afterAll(async () => {
    await running?.stop();
    await admin.destroy();
  });

  it('is 200 with every module and service up', async () => {
    const res = await running.shop.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      status: 'up',
      services: { database: 'up', eventBus: 'up' },
      modules: Object.fromEntries(
        ['catalog', 'orders', 'payments', 'shipping'].map((m) => [m, { status: 'up', location: 'local', checks: { database: 'up' } }]),
      ),
      admission: { shedding: false, lagMs: expect.any(Number), maxLagMs: 2_000 },
    });
  });

  it('is 503 naming what is down while the database refuses connections, and 200 again after', async () => {
    const name = (await running.app.database.forModule('catalog').read((k) => k.raw('select current_database() as name'))).rows[0].name as string;
    await admin.raw(`alter database "${name}" allow_connections false`);
    await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where datname = ? and pid <> pg_backend_pid()', [name]);
    try {
      const res = await running.shop.request('GET', '/health');
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('down');
      expect(res.body.services.database).toBe('down');
      expect(res.body.modules.catalog).toMatchObject({ status: 'down', checks: { database: 'down' } });
      // No outbox figure rather than a stale one that would look healthy.
      const metrics = await running.shop.request('GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body as string).not.toMatch(/^outbox_pending_events\{/m);
    } finally {
      await admin.raw(`alter database "${name}" allow_connections true`);
    }
    await expect.poll(async () => (await running.shop.request('GET', '/health')).status, { timeout: 10_000 }).toBe(200);
  });

  it('serves Prometheus text with request, event and outbox figures', async () => {
    const { shop } = running;
    const product = await shop.createProduct(1, 10);
    const wallet = await shop.createWallet(100);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    await shop.waitSettled([placed.body.id]);
    await expect.poll(async () => (await shop.shipmentsOf(placed.body.id)).length).toBe(1);
    await shop.request('POST', '/api/catalog/products', { sku: '' });
    // A body that is not JSON fails before the handler runs, and still counts under its route.
    await fetch(`${shop.baseUrl}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    const res = await shop.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = res.body as string;
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/api\/orders",status="202"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/api\/catalog\/products",status="400"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/api\/orders",status="400"\} [1-9]/);
    expect(text).toMatch(/# TYPE http_request_duration_seconds histogram/);
    // Buckets are cumulative and end in +Inf = count; the sum is in seconds.
    const series = 'method="GET",route="/api/catalog/products/:id",status="200"';
    await shop.request('GET', `/api/catalog/products/${product.id}`);
    const again = (await shop.request('GET', '/metrics')).body as string;
    const value = (line: string) => Number(again.split('\n').find((l) => l.startsWith(line))?.split(' ').pop());
    const buckets = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '+Inf'].map((le) => value(`http_request_duration_seconds_bucket{le="${le}",${series}}`));
    expect(buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b >= buckets[i - 1]!))).toBe(true);
    expect(buckets.at(-1)).toBe(value(`http_request_duration_seconds_count{${series}}`));
    expect(buckets.at(-1)).toBeGreaterThanOrEqual(1);
    expect(value(`http_request_duration_seconds_sum{${series}}`)).toBeGreaterThan(0);
    expect(text).toMatch(/events_handled_total\{handler="shipping.create-shipment",outcome="handled"\} [1-9]/);
    expect(text).toMatch(/events_published_total\{module="orders"\} [1-9]/);
    expect(text).toMatch(/outbox_pending_events\{module="catalog"\} \d+/);
    // The lag of the event flow, stage by stage, and what admission control acts on.
    expect(text).toMatch(/^outbox_lag_seconds\{module="orders"\} [\d.e-]+$/m);
    expect(text).toMatch(/^event_handler_lag_seconds\{handler="catalog.reserve-stock"\} [\d.e-]+$/m);
    expect(text).toMatch(/^event_lag_seconds [\d.e-]+$/m);
    expect(text).toMatch(/# TYPE http_requests_shed_total counter/);
  });
});
