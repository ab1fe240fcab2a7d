import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../src/app.js';
import { createApp, loadConfig, type App } from '../src/kernel/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// `Idempotency-Key` on POST /api/orders (ADR 0017), on real PostgreSQL: row
// locks are what keep two concurrent requests with one key from both storing
// an order, and PGlite ignores them. Every module runs in `shop`; `gateway`
// runs none and proxies /api/orders to it (the facade), so the header must
// cross a process. Ports 21110-21112.
const SHOP_PORT = '21110';
const GATEWAY_PORT = '21111';
const PGLITE_PORT = '21112';
const SECRET = `test-secret-${randomUUID()}`;
const prefix = testQueuePrefix();

let database: TestDatabase;
let shop: App;
let gateway: App;
let direct: ShopClient;
let proxied: ShopClient;
let product: { id: string };

beforeAll(async () => {
  database = await createTestDatabase('mmk_idem');
  const logLevel = process.env.TEST_LOG_LEVEL ?? 'silent';
  // Keys older than an hour are purged, checked every 100 ms (the retention test ages some).
  shop = await createApp({
    modules: SHOP_MODULES,
    config: loadConfig({ PORT: SHOP_PORT, LOG_LEVEL: logLevel, DATABASE_URL: database.url, EVENT_RETENTION_HOURS: '1', SERVICE_TOKEN_SECRET: SECRET }),
    topologyFile: SHOP_TOPOLOGY_FILE,
    retention: { intervalMs: 100 },
  });
  direct = new ShopClient((await shop.start()).url);
  const elsewhere = `http://127.0.0.1:${SHOP_PORT}`;
  gateway = await createApp({
    modules: SHOP_MODULES,
    config: loadConfig({
      PORT: GATEWAY_PORT,
      LOG_LEVEL: logLevel,
      MODULES: 'none',
      EVENT_BUS: 'bullmq',
      REDIS_URL: TEST_REDIS_URL,
      EVENT_QUEUE_PREFIX: prefix,
      SERVICE_TOKEN_SECRET: SECRET,
      ...Object.fromEntries(SHOP_MODULES.map((m) => [`SERVICE_URL_${m.name.toUpperCase()}`, elsewhere])),
    }),
    topologyFile: SHOP_TOPOLOGY_FILE,
  });
  proxied = new ShopClient((await gateway.start()).url);
  product = await direct.createProduct(10_000, 250);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await shop?.stop();
  await database?.drop();
  await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

const order = (customerId: string, quantity = 1) => ({ customerId, items: [{ productId: product.id, quantity }] });
const withKey = (key: string) => ({ 'idempotency-key': key });

describe('POST /api/orders with an Idempotency-Key', () => {
  it('answers a retry with the same key and body with the first answer again, and stores one order', async () => {
    const customerId = `idem-${randomUUID()}`;
    const key = randomUUID();
    const first = await direct.request('POST', '/api/orders', order(customerId), withKey(key));
    expect(first.status).toBe(202);
    // The same request written otherwise (spacing, key order) is the same request.
    const rewritten = `{ "items": [ { "quantity": 1, "productId": "${product.id}" } ], "customerId": "${customerId}" }`;
    const again = await direct.request('POST', '/api/orders', rewritten, withKey(key));
    expect(again.status).toBe(202);
    expect(JSON.stringify(again.body)).toBe(JSON.stringify(first.body));
    // Once the order settled the retry still gets the first answer: pending, as it was then.
    await direct.waitSettled([first.body.id]);
    const late = await direct.request('POST', '/api/orders', order(customerId), withKey(key));
    expect(late).toMatchObject({ status: 202, body: first.body });
    expect(await direct.ordersOf(customerId)).toEqual([first.body.id]);
  });

  it('refuses the same key with another body: 422 ORDERS.IDEMPOTENCY_KEY_REUSED, and nothing stored', async () => {
    const customerId = `idem-${randomUUID()}`;
    const key = randomUUID();
    const first = await direct.placeOrder(customerId, order(customerId).items, withKey(key));
    expect(first.status).toBe(202);
    const other = await direct.placeOrder(customerId, order(customerId, 2).items, withKey(key));
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('ORDERS.IDEMPOTENCY_KEY_REUSED');
    expect(other.body.error.message).toContain(key);
    expect(await direct.ordersOf(customerId)).toEqual([first.body.id]);
  });

  it('keeps keys per customer: another customer may use the same key for its own order', async () => {
    const key = randomUUID();
    const [a, b] = [`idem-${randomUUID()}`, `idem-${randomUUID()}`];
    const first = await direct.placeOrder(a, order(a).items, withKey(key));
    const second = await direct.placeOrder(b, order(b).items, withKey(key));
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.id).not.toBe(first.body.id);
    expect(second.body.customerId).toBe(b);
  });

  it('refuses an invalid key with 400 before storing anything', async () => {
    const customerId = `idem-${randomUUID()}`;
    for (const key of ['', 'x'.repeat(256), 'two words', 'a,b', '"', '""']) {
      const res = await direct.placeOrder(customerId, order(customerId).items, withKey(key));
      expect(res.status, `key ${JSON.stringify(key)}`).toBe(400);
      expect(res.body.error.code).toBe('HTTP.INVALID_INPUT');
      expect(res.body.error.details[0].path).toBe('headers.idempotency-key');
    }
    // The IETF draft's quoted form is the same key as the bare one.
    const key = randomUUID();
    const quoted = await direct.placeOrder(customerId, order(customerId).items, withKey(`"${key}"`));
    const bare = await direct.placeOrder(customerId, order(customerId).items, withKey(key));
    expect(quoted.status).toBe(202);
    expect(bare.body).toEqual(quoted.body);
    expect(await direct.ordersOf(customerId)).toEqual([quoted.body.id]);
  });

  it('stores one order for concurrent requests with the same key, and gives each the same answer', async () => {
    const customerId = `idem-${randomUUID()}`;
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, () => direct.placeOrder(customerId, order(customerId).items, withKey(key))));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(202));
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await direct.ordersOf(customerId)).toEqual([answers[0]!.body.id]);
  });

  it('works through the facade of a process that does not run orders: the header crosses it', async () => {
    const customerId = `idem-${randomUUID()}`;
    const key = randomUUID();
    const first = await proxied.placeOrder(customerId, order(customerId).items, withKey(key));
    expect(first.status).toBe(202);
    const again = await direct.placeOrder(customerId, order(customerId).items, withKey(key));
    const viaGateway = await proxied.placeOrder(customerId, order(customerId).items, withKey(key));
    expect(again.body).toEqual(first.body);
    expect(viaGateway.body).toEqual(first.body);
    const reused = await proxied.placeOrder(customerId, order(customerId, 3).items, withKey(key));
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('ORDERS.IDEMPOTENCY_KEY_REUSED');
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => proxied.placeOrder(customerId, order(customerId, 5).items, withKey(`${key}-2`))));
    expect(new Set(concurrent.map((a) => `${a.status} ${a.body.id}`)).size).toBe(1);
    expect((await direct.ordersOf(customerId)).sort()).toEqual([first.body.id, concurrent[0]!.body.id].sort());
  });

  it('forgets keys past the retention (EVENT_RETENTION_HOURS), with the published events', async () => {
    const customerId = `idem-${randomUUID()}`;
    const [old, recent] = [randomUUID(), randomUUID()];
    await direct.placeOrder(customerId, order(customerId).items, withKey(old));
    await direct.placeOrder(customerId, order(customerId, 2).items, withKey(recent));
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await admin.query(`update orders.idempotency_keys set created_at = now() - interval '2 hours' where customer_id = $1 and key = $2`, [customerId, old]);
      const keysOf = async () => (await admin.query('select key from orders.idempotency_keys where customer_id = $1', [customerId])).rows.map((r) => r.key as string);
      await expect.poll(keysOf, { timeout: 5_000, interval: 100 }).toEqual([recent]);
    } finally {
      await admin.end();
    }
    // A forgotten key is a new key: it orders again.
    const again = await direct.placeOrder(customerId, order(customerId).items, withKey(old));
    expect(again.status).toBe(202);
    expect(await direct.ordersOf(customerId)).toHaveLength(3);
  });
});

describe('on the embedded default (PGlite)', () => {
  it('replays the first answer for the same key and body, and refuses another body with 422', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mmk-idem-'));
    const app = await createApp({ modules: SHOP_MODULES, config: loadConfig({ PORT: PGLITE_PORT, LOG_LEVEL: 'silent', DATA_DIR: dataDir }), topologyFile: SHOP_TOPOLOGY_FILE });
    try {
      const local = new ShopClient((await app.start()).url);
      const own = await local.createProduct(100, 300);
      const customerId = `idem-${randomUUID()}`;
      const key = randomUUID();
      const items = [{ productId: own.id, quantity: 2 }];
      const first = await local.placeOrder(customerId, items, withKey(key));
      const again = await local.placeOrder(customerId, items, withKey(key));
      expect(first.status).toBe(202);
      expect(JSON.stringify(again.body)).toBe(JSON.stringify(first.body));
      const other = await local.placeOrder(customerId, [{ productId: own.id, quantity: 3 }], withKey(key));
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('ORDERS.IDEMPOTENCY_KEY_REUSED');
      expect(await local.ordersOf(customerId)).toEqual([first.body.id]);
    } finally {
      await app.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
