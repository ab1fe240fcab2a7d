import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../src/app.js';
import { createApp, loadConfig, type App } from '../src/kernel/index.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// A gateway that stops: the answers it proxies during its grace period close
// their connections too (the proxy would say keep-alive). Ports 21113-21114.
const SECRET = `test-secret-${randomUUID()}`;
const prefix = testQueuePrefix();
let dataDir = '';
let shop: App | undefined;
let gateway: App | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mmk-stopping-gateway-'));
  shop = await createApp({ modules: SHOP_MODULES, config: loadConfig({ PORT: '21113', LOG_LEVEL: 'silent', DATA_DIR: dataDir, SERVICE_TOKEN_SECRET: SECRET }), topologyFile: SHOP_TOPOLOGY_FILE });
  await shop.start();
  gateway = await createApp({
    modules: SHOP_MODULES,
    config: loadConfig({
      PORT: '21114',
      LOG_LEVEL: 'silent',
      MODULES: 'none',
      EVENT_BUS: 'bullmq',
      REDIS_URL: TEST_REDIS_URL,
      EVENT_QUEUE_PREFIX: prefix,
      SERVICE_TOKEN_SECRET: SECRET,
      ...Object.fromEntries(SHOP_MODULES.map((m) => [`SERVICE_URL_${m.name.toUpperCase()}`, 'http://127.0.0.1:21113'])),
    }),
    topologyFile: SHOP_TOPOLOGY_FILE,
  });
  await gateway.start();
}, 60_000);

afterAll(async () => {
  if (gateway && !gateway.stopping) await gateway.stop();
  await shop?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

/** One keep-alive POST with Node's client: the status and the `Connection` header of the answer. */
function post(path: string, body: unknown): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = httpRequest(`http://127.0.0.1:21114${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'keep-alive' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

const product = () => ({ sku: `sku-${randomUUID()}`, name: 'Mug', priceCents: 100, stock: 1 });

it('a stopping gateway answers 503 on /health and proxies on during its grace period, each answer with Connection: close', async () => {
  expect(await post('/api/catalog/products', product())).toEqual({ status: 201, connection: 'keep-alive' });
  const stopped = gateway!.stop({ graceMs: 1_500 });
  const health = await fetch('http://127.0.0.1:21114/health');
  expect(health.status).toBe(503);
  expect(await health.json()).toMatchObject({ status: 'stopping' });
  expect(await post('/api/catalog/products', product())).toEqual({ status: 201, connection: 'close' });
  await stopped;
}, 30_000);
