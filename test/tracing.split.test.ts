import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { startOtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { splitProcessEnv, TEST_SERVICE_SECRET } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// OpenTelemetry across processes (ADR 0016): a pure gateway that proxies /api/orders, orders and shipping in one
// service, catalog and payments in another, events on BullMQ. Every child exports its spans over OTLP/HTTP JSON to a
// collector this test runs; one order must make one trace through all three.
const PORTS = { collector: 22600, gateway: 22601, orders: 22602, catalog: 22603 };
const url = (port: number) => `http://127.0.0.1:${port}`;
const HOMES = { orders: url(PORTS.orders), shipping: url(PORTS.orders), catalog: url(PORTS.catalog), payments: url(PORTS.catalog) };
const PLANS = [
  { name: 'gateway', port: PORTS.gateway, modules: [] as string[] },
  { name: 'orders', port: PORTS.orders, modules: ['orders', 'shipping'] },
  { name: 'catalog', port: PORTS.catalog, modules: ['catalog', 'payments'] },
];
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

describe('tracing across processes (OTEL_EXPORTER_OTLP_ENDPOINT)', () => {
  const prefix = testQueuePrefix();
  const databases: TestDatabase[] = [];
  const children: ChildApp[] = [];
  let collector: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let shop: ShopClient;

  beforeAll(async () => {
    collector = await startOtlpReceiver(PORTS.collector);
    try {
      const envs = [];
      for (const plan of PLANS) {
        const database = plan.modules.length > 0 ? await createTestDatabase('mmk_trace') : undefined;
        if (database) databases.push(database);
        envs.push({
          ...splitProcessEnv({ modules: plan.modules, elsewhere: HOMES, prefix, secret: TEST_SERVICE_SECRET, databaseUrl: database?.url }),
          PORT: String(plan.port),
          EVENT_RELAY_POLL_MS: '200',
          REMOTE_TIMEOUT_MS: '15000',
          DATABASE_POOL_MAX: '3',
          OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
          // The batch span processor exports every 100 ms instead of every 5 s.
          OTEL_BSP_SCHEDULE_DELAY: '100',
        });
      }
      const started = await Promise.allSettled(envs.map(async (env) => children.push(await startChildApp(env, 120_000))));
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (error) {
      await stopAll();
      throw error;
    }
    shop = new ShopClient(url(PORTS.gateway));
  }, 180_000);

  async function stopAll(): Promise<void> {
    await Promise.all(children.map((child) => child.kill('SIGKILL')));
    await Promise.all(databases.map((database) => database.drop()));
    await dropRedisPrefix(TEST_REDIS_URL, prefix).catch(() => undefined);
    await collector?.close();
  }

  afterAll(stopAll, 60_000);

  it('makes one order one trace: the POST, the proxy, priceItems, every publish, relay and handler down to shipping', async () => {
    const product = await shop.createProduct(5, 1_250);
    const wallet = await shop.createWallet(10_000);
    // The client's own span: the whole trace hangs under it.
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 2 }], { traceparent: `00-${traceId}-${clientSpanId}-01`, 'x-request-id': 'trace-order-1' });
    expect(placed.status).toBe(202);
    const [order] = await shop.waitSettled([placed.body.id], 60_000);
    expect(order!.status).toBe('confirmed');
    expect(await shop.shipmentsOf(order!.id)).toHaveLength(1);

    // The spans arrive within a batch processor's delay of their end, each process exporting on its own: shipping's
    // handling can arrive before the relay span of another process that is its grandparent. Wait for the last span
    // and for every parent (a parent that never comes, as with a planted fault, fails below after the deadline).
    const deadline = Date.now() + 20_000;
    const inTrace = () => collector.spans.filter((s) => s.traceId === traceId);
    const complete = () => {
      const received = inTrace();
      const ids = new Set(received.map((s) => s.spanId));
      return received.some((s) => s.name === 'handle orders.OrderConfirmed') && received.filter((s) => !ids.has(s.parentSpanId)).length === 1;
    };
    while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const spans = inTrace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const describe = (s: ReceivedSpan) => `${s.service}: ${s.name}`;

    // No broken link: every span's parent was exported too, except the root, whose parent is the client's span.
    const roots = spans.filter((s) => !byId.has(s.parentSpanId));
    expect(roots.map((s) => [describe(s), s.parentSpanId])).toEqual([['shop-gateway: POST /api/orders/*', clientSpanId]]);

    // From shipping's handling up to the gateway, parent by parent, across the three processes.
    const chain: string[] = [];
    for (let span = spans.find((s) => s.name === 'handle orders.OrderConfirmed'); span; span = byId.get(span.parentSpanId)) chain.unshift(describe(span));
    expect(chain).toEqual([
      'shop-gateway: POST /api/orders/*',
      'shop-gateway: proxy orders',
      'orders+shipping: POST /api/orders',
      'orders+shipping: publish orders.OrderPlaced',
      'orders+shipping: relay orders.OrderPlaced',
      'catalog+payments: handle orders.OrderPlaced',
      'catalog+payments: publish catalog.StockReserved',
      'catalog+payments: relay catalog.StockReserved',
      'catalog+payments: handle catalog.StockReserved',
      'catalog+payments: publish payments.PaymentCaptured',
      'catalog+payments: relay payments.PaymentCaptured',
      'orders+shipping: handle payments.PaymentCaptured',
      'orders+shipping: publish orders.OrderConfirmed',
      'orders+shipping: relay orders.OrderConfirmed',
      'orders+shipping: handle orders.OrderConfirmed',
    ]);
    const named = (name: string) => spans.filter((s) => s.name === name);
    expect(named('handle orders.OrderConfirmed')[0]!.attributes['mmk.handler']).toBe('shipping.create-shipment');
    expect(named('handle orders.OrderPlaced')[0]!.attributes['mmk.handler']).toBe('catalog.reserve-stock');
    expect(named('handle orders.OrderConfirmed')[0]!.attributes['mmk.correlation_id']).toBe('trace-order-1');
    expect(named('relay orders.OrderPlaced')[0]!.attributes['messaging.system']).toBe('bullmq');

    // The synchronous call: orders' client span, then catalog's server span under it, in the other process.
    const [serverSpan] = named('POST /api/orders');
    const [priceItems] = named('catalog.priceItems');
    expect(priceItems).toMatchObject({ service: 'orders+shipping', kind: CLIENT, parentSpanId: serverSpan!.spanId });
    const [internal] = named('POST /internal/catalog/priceItems');
    expect(internal).toMatchObject({ service: 'catalog+payments', kind: SERVER, parentSpanId: priceItems!.spanId });
    expect(internal!.attributes['http.response.status_code']).toBe(200);

    // Kinds as OpenTelemetry's messaging conventions have them.
    expect(named('proxy orders')[0]!.kind).toBe(CLIENT);
    expect(named('publish orders.OrderPlaced')[0]!.kind).toBe(PRODUCER);
    expect(named('relay orders.OrderPlaced')[0]!.kind).toBe(PRODUCER);
    expect(named('handle orders.OrderPlaced')[0]!.kind).toBe(CONSUMER);
    expect(serverSpan!.kind).toBe(SERVER);
  }, 120_000);
});
