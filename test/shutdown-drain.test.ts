import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, expect, it } from 'vitest';
import { SHOP_MODULES } from '../src/app.js';
import { createApp, loadConfig } from '../src/kernel/index.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

const prefix = testQueuePrefix();
let hanging: Server | undefined;

afterAll(async () => {
  hanging?.closeAllConnections();
  await new Promise((done) => hanging?.close(done) ?? done(undefined));
  await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

it('a stopping process closes the connection of a request that never finishes, instead of waiting for it for ever', async () => {
  // A service that takes requests and never answers; the gateway would wait for it a minute.
  hanging = createServer(() => undefined);
  await new Promise<void>((done) => hanging!.listen(0, '127.0.0.1', done));
  const service = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    EVENT_BUS: 'bullmq',
    REDIS_URL: TEST_REDIS_URL,
    EVENT_QUEUE_PREFIX: prefix,
    MODULES: 'none',
    SERVICE_URL_CATALOG: service,
    SERVICE_URL_ORDERS: service,
    SERVICE_URL_PAYMENTS: service,
    SERVICE_URL_SHIPPING: service,
    SERVICE_TOKEN_SECRET: 'a-test-secret-of-at-least-32-characters',
    REMOTE_TIMEOUT_MS: '60000',
  });
  const app = await createApp({ modules: SHOP_MODULES, config });
  const { url } = await app.start();
  const inFlight = fetch(`${url}/api/payments/wallets/someone`).then(
    (res) => res.status,
    () => 'connection closed',
  );
  await new Promise((done) => setTimeout(done, 300));
  const started = performance.now();
  await app.stop();
  const seconds = (performance.now() - started) / 1000;
  expect(seconds).toBeGreaterThan(9);
  expect(seconds).toBeLessThan(15);
  expect(await inFlight).toBe('connection closed');
}, 30_000);
