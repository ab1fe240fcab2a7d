import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullMqTransport } from '../src/kernel/events/bullmq-transport.js';
import { DEFAULT_RETRY } from '../src/kernel/events/memory-transport.js';
import { bullmqTopology, dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix, type RunningShop } from './support/topologies.js';

// How a process learns the lag of modules that run in other processes
// (ADR 0009): every process shares its readings in Redis and reads the others'.

function peer(prefix: string): BullMqTransport {
  return new BullMqTransport({ redisUrl: TEST_REDIS_URL, prefix, routes: new Map(), retry: DEFAULT_RETRY, logger: pino({ level: 'silent' }) });
}

describe('lag readings shared through Redis', () => {
  const prefix = testQueuePrefix();
  afterAll(() => dropRedisPrefix(TEST_REDIS_URL, prefix));

  it('gives each process the fresh readings of the others, never its own, and forgets a process that stopped', async () => {
    const [a, b] = [peer(prefix), peer(prefix)];
    await Promise.all([a.start(), b.start()]);
    const redis = new Redis(TEST_REDIS_URL);
    try {
      await a.exchangeLag([{ kind: 'outbox', name: 'catalog', lagMs: 1_200 }]);
      expect(await b.exchangeLag([{ kind: 'handler', name: 'orders.confirm-order', lagMs: 30 }])).toEqual([{ kind: 'outbox', name: 'catalog', lagMs: 1_200 }]);
      expect(await a.exchangeLag([])).toEqual([{ kind: 'handler', name: 'orders.confirm-order', lagMs: 30 }]);
      // A process that stopped writing 6 s ago is ignored.
      await redis.hset(`${prefix}:lag`, 'gone-host:1:abc', JSON.stringify({ at: Date.now() - 6_000, readings: [{ kind: 'outbox', name: 'payments', lagMs: 9_999 }] }));
      expect(await a.exchangeLag([])).toEqual([{ kind: 'handler', name: 'orders.confirm-order', lagMs: 30 }]);
      // A process that stops removes its readings at once.
      await b.close();
      expect(await a.exchangeLag([])).toEqual([]);
    } finally {
      redis.disconnect();
      await a.close();
    }
  });
});

describe('admission control on the lag of another process (PostgreSQL + BullMQ)', () => {
  let running: RunningShop;
  let prefix: string;
  beforeAll(async () => {
    prefix = testQueuePrefix();
    running = await bullmqTopology({}, 'PostgreSQL + BullMQ', { EVENT_QUEUE_PREFIX: prefix, ADMISSION_MAX_LAG_MS: '400', ADMISSION_SAMPLE_MS: '50' }).start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('sheds orders while a handler in another process lags, and takes them again once it caught up', async () => {
    const { shop } = running;
    const product = await shop.createProduct(100, 100);
    const wallet = await shop.createWallet(100_000);
    const order = () => shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    expect((await order()).status).toBe(202);

    // Another process reports that its reservation handler is 5 s behind.
    const other = peer(prefix);
    await other.start();
    let reporting = true;
    const reports = (async () => {
      while (reporting) {
        await other.exchangeLag([{ kind: 'handler', name: 'catalog.reserve-stock', lagMs: 5_000 }]);
        await sleep(50);
      }
    })();
    try {
      await expect.poll(async () => (await order()).status, { timeout: 5_000, interval: 50 }).toBe(429);
      const refused = await order();
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('5');
      const health = await shop.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'degraded', admission: { shedding: true, lagMs: 5_000, maxLagMs: 400 } });
      expect((await shop.request('GET', '/metrics')).body).toMatch(/^event_handler_lag_seconds\{handler="catalog.reserve-stock"\} 5$/m);
      // Reads are never refused.
      expect((await shop.request('GET', `/api/catalog/products/${product.id}`)).status).toBe(200);
    } finally {
      reporting = false;
      await reports;
      await other.close();
    }
    await expect.poll(async () => (await order()).status, { timeout: 5_000, interval: 50 }).toBe(202);
    expect((await shop.request('GET', '/health')).body.status).toBe('up');
  });
});
