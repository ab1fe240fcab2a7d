import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createLogger, loadConfig, type App } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { createTestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

interface Transport {
  name: string;
  env(): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>;
}

const TRANSPORTS: Transport[] = [
  {
    name: 'memory bus on PGlite',
    async env() {
      const dataDir = await mkdtemp(join(tmpdir(), 'mmk-corr-'));
      return { env: { DATA_DIR: dataDir }, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'BullMQ on PostgreSQL',
    async env() {
      const database = await createTestDatabase('mmk_corr');
      const prefix = testQueuePrefix();
      return {
        env: { DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: TEST_REDIS_URL, EVENT_QUEUE_PREFIX: prefix },
        cleanup: async () => {
          await database.drop();
          await dropRedisPrefix(TEST_REDIS_URL, prefix);
        },
      };
    },
  },
];

describe.each(TRANSPORTS)('correlation id on the $name', (transport) => {
  const lines: Array<Record<string, unknown>> = [];
  let app: App;
  let shop: ShopClient;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const prepared = await transport.env();
    cleanup = prepared.cleanup;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'debug', ...prepared.env });
    app = await createApp({ modules: SHOP_MODULES, config, logger: createLogger('debug', sink) });
    shop = new ShopClient((await app.start()).url);
  });
  afterAll(async () => {
    await app?.stop();
    await cleanup?.();
  });

  it('is taken from x-request-id, echoed, stored on every event of the saga and logged by every handler', async () => {
    const product = await shop.createProduct(3, 100);
    const wallet = await shop.createWallet(1_000);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }], { 'x-request-id': 'saga-corr-42' });
    expect(placed.headers.get('x-request-id')).toBe('saga-corr-42');
    const [order] = await shop.waitSettled([placed.body.id]);
    expect(order!.status).toBe('confirmed');
    await expect.poll(async () => (await shop.shipmentsOf(order!.id)).length).toBe(1);

    const events: Array<{ event_name: string; correlation_id: string }> = [];
    for (const module of ['catalog', 'orders', 'payments']) {
      events.push(...(await app.database.forModule(module).read((k) => k('outbox').select('event_name', 'correlation_id').where('correlation_id', 'saga-corr-42'))));
    }
    expect(events.map((e) => e.event_name).sort()).toEqual(['catalog.StockReserved', 'orders.OrderConfirmed', 'orders.OrderPlaced', 'payments.PaymentCaptured']);

    await expect
      .poll(() => lines.filter((l) => l.correlationId === 'saga-corr-42' && l.msg === 'event handled').map((l) => l.handler).sort())
      .toEqual(['catalog.reserve-stock', 'orders.confirm-order', 'payments.capture-payment', 'shipping.create-shipment']);
    expect(lines.some((l) => l.correlationId === 'saga-corr-42' && l.msg === 'request' && l.status === 202)).toBe(true);
  });

  it('is generated when the request has none', async () => {
    const res = await shop.request('GET', '/api/catalog/products');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
