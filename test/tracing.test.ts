import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createLogger, loadConfig, type App } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { startOtlpReceiver } from './support/otlp-receiver.js';
import { ShopClient } from './support/shop-client.js';

// Tracing in one process, on the memory bus (ADR 0016); test/tracing.split.test.ts has the same across processes on
// BullMQ. The app exports to an OTLP receiver this test runs; app.stop() exports what is left.
const COLLECTOR_PORT = 22605;

describe('tracing in one process (memory bus, PGlite)', () => {
  const lines: Array<Record<string, unknown>> = [];
  let collector: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let app: App;
  let shop: ShopClient;
  let dataDir: string;

  beforeAll(async () => {
    collector = await startOtlpReceiver(COLLECTOR_PORT);
    dataDir = await mkdtemp(join(tmpdir(), 'mmk-trace-'));
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({ PORT: '0', DATA_DIR: dataDir, OTEL_EXPORTER_OTLP_ENDPOINT: collector.url });
    app = await createApp({ name: 'shop', modules: SHOP_MODULES, config, logger: createLogger('debug', sink) });
    shop = new ShopClient((await app.start()).url);
  });

  afterAll(async () => {
    // The test stops the app itself to export the last spans.
    if (app && !app.stopping) await app.stop();
    await collector?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('is off without OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    const off = await createApp({ modules: [], config: loadConfig({ PORT: '0' }), logger: createLogger('silent') });
    expect(off.tracing).toBeUndefined();
    await off.stop();
  });

  it('makes an order one trace, relayed through the memory bus, and puts its trace_id on the handlers\' log lines', async () => {
    expect(app.tracing?.serviceName).toBe('shop');
    const product = await shop.createProduct(3, 500);
    const wallet = await shop.createWallet(5_000);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }], { 'x-request-id': 'trace-one-process' });
    const [order] = await shop.waitSettled([placed.body.id]);
    expect(order!.status).toBe('confirmed');
    await expect.poll(async () => (await shop.shipmentsOf(order!.id)).length).toBe(1);
    // Probes are not traced.
    expect((await fetch(`${shop.baseUrl}/health`)).status).toBe(200);

    await app.stop();
    const server = collector.spans.find((s) => s.name === 'POST /api/orders' && s.attributes['mmk.correlation_id'] === 'trace-one-process');
    expect(server).toBeDefined();
    const spans = collector.spans.filter((s) => s.traceId === server!.traceId);
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    expect(spans.every((s) => s.service === 'shop')).toBe(true);
    expect(spans.filter((s) => !byId.has(s.parentSpanId)).map((s) => s.name)).toEqual(['POST /api/orders']);
    const chain: string[] = [];
    for (let span = spans.find((s) => s.name === 'handle orders.OrderConfirmed'); span; span = byId.get(span.parentSpanId)) chain.unshift(span.name);
    expect(chain).toEqual([
      'POST /api/orders',
      'publish orders.OrderPlaced',
      'relay orders.OrderPlaced',
      'handle orders.OrderPlaced',
      'publish catalog.StockReserved',
      'relay catalog.StockReserved',
      'handle catalog.StockReserved',
      'publish payments.PaymentCaptured',
      'relay payments.PaymentCaptured',
      'handle payments.PaymentCaptured',
      'publish orders.OrderConfirmed',
      'relay orders.OrderConfirmed',
      'handle orders.OrderConfirmed',
    ]);
    expect(spans.find((s) => s.name === 'relay orders.OrderPlaced')!.attributes['messaging.system']).toBe('memory');
    // A local API call is a function call: no span, no HTTP.
    expect(spans.some((s) => s.name === 'catalog.priceItems')).toBe(false);
    expect(collector.spans.some((s) => s.name.includes('/health'))).toBe(false);

    const handled = lines.filter((l) => l.correlationId === 'trace-one-process' && l.msg === 'event handled');
    expect(handled.map((l) => l.handler).sort()).toEqual(['catalog.reserve-stock', 'orders.confirm-order', 'payments.capture-payment', 'shipping.create-shipment']);
    expect(handled.every((l) => l.trace_id === server!.traceId && l.module !== undefined)).toBe(true);
  });
});
