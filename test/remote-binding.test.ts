import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SHOP_TOPOLOGY_FILE } from '../src/app.js';
import { AppError, createApp, createLogger, defineApi, defineContract, defineModule, loadConfig, type App, type CallContext } from '../src/kernel/index.js';
import { createMetrics, type Metrics } from '../src/kernel/health/metrics.js';
import { remoteBinding } from '../src/kernel/remote/remote-binding.js';
import { BREAKER_THRESHOLD, RemoteModule } from '../src/kernel/remote/remote-module.js';
import { ServiceTokenIssuer } from '../src/kernel/remote/service-token.js';
import { catalogApi, catalogContract } from '../src/modules/catalog/index.js';
import { catalogModule } from '../src/modules/catalog/module.js';
import { ordersModule } from '../src/modules/orders/module.js';
import { paymentsModule } from '../src/modules/payments/module.js';
import { shippingModule } from '../src/modules/shipping/module.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { splitProcessEnv } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

/**
 * The client half of the module APIs: `RemoteModule` and `remoteBinding`
 * (what orders gets for catalog when catalog runs elsewhere), against a real
 * catalog process and against raw node:http servers that misbehave on cue.
 */

const SECRET = 'remote-binding-test-secret-0123456789abc';
const silent = createLogger('silent');

// ---------------------------------------------------------------- the catalog process

/** The correlation id each priceItems call of the catalog process received. */
const received: string[] = [];
/** The real catalog module, its priceItems noting the context it was called with. */
const recordingCatalog = defineModule({
  ...catalogModule,
  setup(ctx) {
    const parts = catalogModule.setup(ctx);
    const api = parts.api!;
    return {
      ...parts,
      api: {
        ...api,
        priceItems(input, context) {
          received.push(context?.correlationId ?? '(none)');
          return api.priceItems(input, context);
        },
      },
    };
  },
});

let database: TestDatabase;
let prefix: string;
let catalogApp: App;
let catalogUrl: string;
let product: { id: string };
const servers: Server[] = [];
const remotes: RemoteModule[] = [];

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  database = await createTestDatabase('mmk_rbind');
  prefix = testQueuePrefix();
  const nowhere = await listen(createServer((_, res) => res.destroy()));
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    ...splitProcessEnv({ modules: ['catalog'], elsewhere: nowhere, prefix, secret: SECRET, databaseUrl: database.url }),
  });
  catalogApp = await createApp({ modules: [recordingCatalog, ordersModule, paymentsModule, shippingModule], config, topologyFile: SHOP_TOPOLOGY_FILE });
  catalogUrl = (await catalogApp.start()).url;
  product = await new ShopClient(catalogUrl).createProduct(10, 250);
});

afterAll(async () => {
  await Promise.all(remotes.map((r) => r.close()));
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  await catalogApp?.stop();
  await database?.drop();
  if (prefix) await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

// ---------------------------------------------------------------- helpers

interface Options {
  url: string;
  timeoutMs?: number;
  halfOpenAfterMs?: number;
  recoveryProbeMs?: number;
  secret?: string;
  contract?: typeof catalogContract | typeof retryContract;
}

function remoteCatalog(options: Options): { remote: RemoteModule; metrics: Metrics } {
  const metrics = createMetrics();
  const remote = new RemoteModule({
    contract: options.contract ?? catalogContract,
    url: options.url,
    timeoutMs: options.timeoutMs ?? 2_000,
    halfOpenAfterMs: options.halfOpenAfterMs ?? 5_000,
    recoveryProbeMs: options.recoveryProbeMs,
    tokens: new ServiceTokenIssuer(options.secret ?? SECRET),
    metrics,
    logger: silent,
  });
  remotes.push(remote);
  return { remote, metrics };
}

/** A raw service: `handle` answers (or not); every request that reached it is counted with its headers and body. */
async function rawService(handle: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Array<{ url: string; headers: IncomingMessage['headers']; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ url: req.url!, headers: req.headers, body });
      handle(req, res, body);
    });
  });
  return { url: await listen(server), seen };
}

const answer = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** The AppError a call rejects with, and how long it took. */
async function failure(call: () => Promise<unknown>): Promise<{ error: AppError; ms: number }> {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(AppError);
    return { error: error as AppError, ms: performance.now() - started };
  }
  throw new Error('expected the call to fail');
}

/** `remote_call_duration_seconds_count` of one module/operation/outcome. */
async function callCount(metrics: Metrics, operation: string, outcome: string): Promise<number> {
  const metric = await metrics.remoteCalls.get();
  const value = metric.values.find(
    (v) => v.metricName === 'remote_call_duration_seconds_count' && v.labels.module === 'catalog' && v.labels.operation === operation && v.labels.outcome === outcome,
  );
  return value?.value ?? 0;
}

const items = (productId: string, quantity = 2) => ({ items: [{ productId, quantity }] });
const validPriced = (productId: string) => ({ items: [{ productId, quantity: 2, unitPriceCents: 100 }], totalCents: 200 });

// An API with one operation safe to repeat and one that is not.
const retryApi = defineApi('catalog', {
  read: { input: z.object({}), output: z.object({ ok: z.boolean() }), idempotent: true },
  write: { input: z.object({}), output: z.object({ ok: z.boolean() }) },
});
const retryContract = defineContract({ name: 'catalog', api: retryApi, events: [], consumes: {}, dependsOn: [] });

// ---------------------------------------------------------------- tests

describe('remoteBinding against the catalog process', () => {
  it('returns the validated outputs', async () => {
    const { remote, metrics } = remoteCatalog({ url: catalogUrl });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    expect(await catalog.priceItems(items(product.id, 3))).toEqual({ items: [{ productId: product.id, quantity: 3, unitPriceCents: 250 }], totalCents: 750 });
    expect(await catalog.getProduct({ id: product.id })).toEqual({ id: product.id, sku: expect.stringMatching(/^sku-/), name: 'Test product', priceCents: 250, stock: 10 });
    expect(await catalog.getProduct({ id: randomUUID() })).toBeNull();
    expect(await callCount(metrics, 'priceItems', 'ok')).toBe(1);
    expect(await callCount(metrics, 'getProduct', 'ok')).toBe(2);
    expect(remote.breakerState).toBe('closed');
  });

  it('lets errors cross with their status and code (422 stays 422), without counting them against the breaker', async () => {
    const { remote, metrics } = remoteCatalog({ url: catalogUrl });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    const unknown = randomUUID();
    for (let i = 0; i < BREAKER_THRESHOLD + 1; i++) {
      const { error } = await failure(() => catalog.priceItems(items(unknown)));
      expect(error.status).toBe(422);
      expect(error.kind).toBe('UNPROCESSABLE');
      expect(error.code).toBe('CATALOG.UNKNOWN_PRODUCT');
      expect(error.message).toBe(`unknown product ${unknown}`);
      expect(error.details).toEqual({ productIds: [unknown] });
    }
    // An answer is not a failure of the service.
    expect(remote.breakerState).toBe('closed');
    expect(await callCount(metrics, 'priceItems', 'error')).toBe(BREAKER_THRESHOLD + 1);
  });

  it("turns a refusal of the call itself (401, 403) into the deployment's 500 KERNEL.REMOTE_CALL_REFUSED, never a 401/403 for a public client", async () => {
    const { remote, metrics } = remoteCatalog({ url: catalogUrl });
    const forbidden = await failure(() => remoteBinding(catalogApi, remote, 'payments').getProduct({ id: product.id }));
    expect([forbidden.error.status, forbidden.error.kind, forbidden.error.code]).toEqual([500, 'INTERNAL', 'KERNEL.REMOTE_CALL_REFUSED']);
    // The message reaches a public client: no URL, no reason; the cause (logged) has both.
    expect(forbidden.error.message).toBe('a call to module catalog was refused (the logs say why)');
    expect(forbidden.error.toBody()).toEqual({ error: { code: 'KERNEL.REMOTE_CALL_REFUSED', message: 'a call to module catalog was refused (the logs say why)' } });
    const forbiddenCause = forbidden.error.cause as Error;
    expect(forbiddenCause.message).toBe(
      `${catalogUrl} refused the call catalog.getProduct: 403 KERNEL.FORBIDDEN: module payments does not declare a dependency on catalog (module.json dependsOn), so it may not call it`,
    );
    expect((forbiddenCause.cause as AppError).code).toBe('KERNEL.FORBIDDEN');

    const strangers = remoteCatalog({ url: catalogUrl, secret: 'not-the-secret-of-the-catalog-process-!!' }).remote;
    const unauthenticated = await failure(() => remoteBinding(catalogApi, strangers, 'orders').getProduct({ id: product.id }));
    expect([unauthenticated.error.status, unauthenticated.error.code]).toEqual([500, 'KERNEL.REMOTE_CALL_REFUSED']);
    expect((unauthenticated.error.cause as Error).message).toBe(
      `${catalogUrl} refused the call catalog.getProduct: 401 KERNEL.UNAUTHENTICATED: the service token is not valid: signature verification failed`,
    );
    // Refused, but answered: the service is there.
    expect([remote.breakerState, strangers.breakerState]).toEqual(['closed', 'closed']);
    expect(await callCount(metrics, 'getProduct', 'error')).toBe(1);
  });

  it("carries the caller's correlation id to the operation", async () => {
    const { remote } = remoteCatalog({ url: catalogUrl });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    const context: CallContext = { correlationId: `corr-${randomUUID()}` };
    received.length = 0;
    await catalog.priceItems(items(product.id), context);
    expect(received).toEqual([context.correlationId]);
    // Without one, the service makes its own.
    await catalog.priceItems(items(product.id));
    expect(received).toHaveLength(2);
    expect(received[1]).toMatch(/^[\w.:-]{8,128}$/);
    expect(received[1]).not.toBe(context.correlationId);
  });
});

describe('RemoteModule against raw services', () => {
  it('sends POST /internal/<module>/<operation> with a bearer token, JSON and the x-request-id; refuses bad input before the network', async () => {
    const service = await rawService((_, res) => answer(res, 200, validPriced(product.id)));
    const { remote, metrics } = remoteCatalog({ url: service.url });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    expect(await catalog.priceItems(items(product.id), { correlationId: 'corr-raw-1' })).toEqual(validPriced(product.id));
    expect(service.seen).toHaveLength(1);
    const [call] = service.seen;
    expect(call!.url).toBe('/internal/catalog/priceItems');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['x-request-id']).toBe('corr-raw-1');
    expect(call!.headers.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(JSON.parse(call!.body)).toEqual(items(product.id));

    const invalid = await failure(() => catalog.priceItems({ items: [] }));
    expect([invalid.error.status, invalid.error.code, invalid.error.message]).toEqual([400, 'CATALOG.INVALID_INPUT', 'catalog.priceItems: invalid input']);
    expect(invalid.error.details).toEqual([expect.objectContaining({ code: 'too_small', path: ['items'] })]);
    expect(service.seen).toHaveLength(1);
    expect(await callCount(metrics, 'priceItems', 'ok')).toBe(1);
  });

  it('refuses an output that does not match the contract', async () => {
    const service = await rawService((req, res) => (req.url!.endsWith('/getProduct') ? res.end('not json') : answer(res, 200, { items: 'nope', totalCents: 1 })));
    const { remote, metrics } = remoteCatalog({ url: service.url });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    const wrong = await failure(() => catalog.priceItems(items(product.id)));
    expect([wrong.error.status, wrong.error.kind, wrong.error.code, wrong.error.message]).toEqual([500, 'INTERNAL', 'CATALOG.INVALID_OUTPUT', 'catalog.priceItems: invalid output']);
    const text = await failure(() => catalog.getProduct({ id: product.id }));
    expect(text.error.code).toBe('CATALOG.INVALID_OUTPUT');
    expect(await callCount(metrics, 'priceItems', 'invalid')).toBe(1);
    expect(await callCount(metrics, 'getProduct', 'invalid')).toBe(1);
  });

  it('gives CATALOG.UNAVAILABLE within REMOTE_TIMEOUT_MS when the service never answers', async () => {
    const service = await rawService(() => undefined);
    const { remote, metrics } = remoteCatalog({ url: service.url, timeoutMs: 300 });
    const catalog = remoteBinding(catalogApi, remote, 'orders');
    for (const call of [() => catalog.priceItems(items(product.id)), () => catalog.getProduct({ id: product.id })]) {
      const { error, ms } = await failure(call);
      expect([error.status, error.kind, error.code]).toEqual([503, 'UNAVAILABLE', 'CATALOG.UNAVAILABLE']);
      expect(error.message).toBe('module catalog is unavailable: no answer within 300 ms (REMOTE_TIMEOUT_MS)');
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(1_000);
    }
    expect(await callCount(metrics, 'priceItems', 'timeout')).toBe(1);
    expect(await callCount(metrics, 'getProduct', 'timeout')).toBe(1);
    // A call that times out is a failure of the service: five in a row open the breaker.
    expect(remote.breakerState).toBe('closed');
    for (let i = 2; i < BREAKER_THRESHOLD; i++) await failure(() => catalog.getProduct({ id: product.id }));
    expect(remote.breakerState).toBe('open');
    expect(service.seen).toHaveLength(BREAKER_THRESHOLD);
  });

  it('gives CATALOG.UNAVAILABLE when nothing listens', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((done) => closed.close(done));
    servers.splice(servers.indexOf(closed), 1);
    const { remote, metrics } = remoteCatalog({ url });
    const { error } = await failure(() => remoteBinding(catalogApi, remote, 'orders').getProduct({ id: product.id }));
    expect([error.status, error.code]).toEqual([503, 'CATALOG.UNAVAILABLE']);
    expect(error.message).toMatch(/^module catalog is unavailable: .*ECONNREFUSED/);
    expect(await callCount(metrics, 'getProduct', 'unavailable')).toBe(1);
  });

  it('lets a 5xx answer cross with its status and code, without a retry and without counting it against the breaker', async () => {
    const service = await rawService((_, res) => answer(res, 500, { error: { code: 'CATALOG.BROKEN', message: 'boom' } }));
    const { metrics, remote } = remoteCatalog({ url: service.url });
    // priceItems is idempotent, but an answer is never tried again: the service may have done the work.
    const { error } = await failure(() => remoteBinding(catalogApi, remote, 'orders').priceItems(items(product.id)));
    expect([error.status, error.kind, error.code, error.message]).toEqual([500, 'INTERNAL', 'CATALOG.BROKEN', 'boom']);
    expect(service.seen).toHaveLength(1);
    expect(await callCount(metrics, 'priceItems', 'failed')).toBe(1);
    // An answer, even a 5xx, shows the service is there (a 503 may be about a module it calls): the breaker stays closed.
    for (let i = 0; i < BREAKER_THRESHOLD; i++) await failure(() => remoteBinding(catalogApi, remote, 'orders').priceItems(items(product.id)));
    expect(remote.breakerState).toBe('closed');
    expect(service.seen).toHaveLength(BREAKER_THRESHOLD + 1);
    expect(await callCount(metrics, 'priceItems', 'failed')).toBe(BREAKER_THRESHOLD + 1);
  });

  it('opens the breaker after 5 consecutive failures, then fails fast without the network; half-opens and closes on a success', async () => {
    // `write` is not idempotent: one attempt, so one failure, per call.
    let mode: 'drop' | 'ok' | 'slow' = 'drop';
    const service = await rawService((req, res) => {
      if (mode === 'drop') req.socket.destroy();
      else if (mode === 'ok') answer(res, 200, { ok: true });
      else setTimeout(() => answer(res, 200, { ok: true }), 200);
    });
    const { remote, metrics } = remoteCatalog({ url: service.url, halfOpenAfterMs: 400, contract: retryContract });
    const api = remoteBinding(retryApi, remote, 'orders');
    const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

    // Failures that are not consecutive do not open it.
    for (let i = 0; i < BREAKER_THRESHOLD - 1; i++) await failure(() => api.write({}));
    mode = 'ok';
    expect(await api.write({})).toEqual({ ok: true });
    mode = 'drop';
    expect(remote.breakerState).toBe('closed');

    for (let i = 0; i < BREAKER_THRESHOLD; i++) {
      expect(remote.breakerState).toBe('closed');
      const { error } = await failure(() => api.write({}));
      expect([error.status, error.code]).toEqual([503, 'CATALOG.UNAVAILABLE']);
      expect(error.message).toMatch(/^module catalog is unavailable: /);
    }
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD);
    expect(remote.breakerState).toBe('open');
    expect(await callCount(metrics, 'write', 'unavailable')).toBe(2 * BREAKER_THRESHOLD - 1);

    for (let i = 0; i < 3; i++) {
      const { error, ms } = await failure(() => api.write({}));
      expect([error.status, error.code, error.message]).toEqual([503, 'CATALOG.UNAVAILABLE', 'module catalog is unavailable: its circuit breaker is open after repeated failures']);
      expect(ms).toBeLessThan(100);
    }
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD);
    expect(await callCount(metrics, 'write', 'open')).toBe(3);
    expect((await metrics.remoteBreaker.get()).values).toEqual([{ labels: { module: 'catalog' }, value: 1 }]);

    // After REMOTE_BREAKER_HALF_OPEN_MS one trial goes through; a failed trial opens it again at once.
    await sleep(450);
    await failure(() => api.write({}));
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD + 1);
    expect(remote.breakerState).toBe('open');
    expect((await failure(() => api.write({}))).error.message).toBe('module catalog is unavailable: its circuit breaker is open after repeated failures');
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD + 1);

    // A successful trial closes it; a call that arrives during the trial waits for its outcome rather than failing.
    await sleep(450);
    mode = 'slow';
    const trial = api.write({});
    await sleep(50);
    expect(remote.breakerState).toBe('half-open');
    const waiting = api.write({});
    await sleep(50);
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD + 2);
    expect(await trial).toEqual({ ok: true });
    expect(await waiting).toEqual({ ok: true });
    expect(remote.breakerState).toBe('closed');
    expect((await metrics.remoteBreaker.get()).values).toEqual([{ labels: { module: 'catalog' }, value: 0 }]);
    expect(service.seen).toHaveLength(2 * BREAKER_THRESHOLD + 3);
  });

  it("closes the open breaker as soon as the service's /health answers again, long before REMOTE_BREAKER_HALF_OPEN_MS, without a caller's call", async () => {
    let mode: 'down' | 'frozen' | 'up' = 'down';
    const service = await rawService((req, res) => {
      if (mode === 'down') req.socket.destroy();
      else if (mode === 'up') answer(res, 200, req.url === '/health' ? { status: 'up' } : { ok: true });
      // frozen: no answer at all, like a SIGSTOPped process
    });
    const { remote } = remoteCatalog({ url: service.url, halfOpenAfterMs: 60_000, recoveryProbeMs: 50, timeoutMs: 300, contract: retryContract });
    const api = remoteBinding(retryApi, remote, 'orders');
    const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
    const probes = () => service.seen.filter((s) => s.url === '/health');

    for (let i = 0; i < BREAKER_THRESHOLD; i++) await failure(() => api.write({}));
    expect(remote.breakerState).toBe('open');

    // Down, then frozen: the probe asks /health (one pending request at a time) and the breaker stays open;
    // callers still fail fast, without reaching the service.
    await sleep(300);
    expect(probes().length).toBeGreaterThanOrEqual(2);
    expect(probes().every((p) => p.headers['x-mmk-health-probe'] === '1')).toBe(true);
    mode = 'frozen';
    await sleep(100);
    const askedWhileFrozen = probes().length;
    await sleep(600);
    // At most one probe a timeout (300 ms) plus a round (50 ms) while no answer comes: 2 more at most.
    expect(probes().length - askedWhileFrozen).toBeLessThanOrEqual(2);
    expect(remote.breakerState).toBe('open');
    const fast = await failure(() => api.write({}));
    expect([fast.error.code, fast.ms < 100]).toEqual(['CATALOG.UNAVAILABLE', true]);
    expect(service.seen.filter((s) => s.url.startsWith('/internal/'))).toHaveLength(BREAKER_THRESHOLD);

    // Back: the next probe sees /health answer 200, runs the trial itself and closes the breaker, 59 s early.
    mode = 'up';
    const back = performance.now();
    await expect.poll(() => remote.breakerState, { timeout: 2_000, interval: 10 }).toBe('closed');
    expect(performance.now() - back).toBeLessThan(1_000);
    expect(await api.write({})).toEqual({ ok: true });
    // Closed, it stops probing.
    const asked = probes().length;
    await sleep(200);
    expect(probes()).toHaveLength(asked);
  });

  it('without a recovery probe (REMOTE_RECOVERY_PROBE_MS=0) the open breaker waits out REMOTE_BREAKER_HALF_OPEN_MS and never asks /health', async () => {
    let up = false;
    const service = await rawService((req, res) => (up ? answer(res, 200, { ok: true }) : req.socket.destroy()));
    const { remote } = remoteCatalog({ url: service.url, halfOpenAfterMs: 60_000, recoveryProbeMs: 0, contract: retryContract });
    const api = remoteBinding(retryApi, remote, 'orders');
    for (let i = 0; i < BREAKER_THRESHOLD; i++) await failure(() => api.write({}));
    up = true;
    await new Promise((done) => setTimeout(done, 400));
    expect(remote.breakerState).toBe('open');
    expect(service.seen.filter((s) => s.url === '/health')).toHaveLength(0);
  });

  it('retries only operations marked idempotent, once, when the connection fails before an answer', async () => {
    const service = await rawService((req) => req.socket.destroy());
    const { remote, metrics } = remoteCatalog({ url: service.url, contract: retryContract });
    const api = remoteBinding(retryApi, remote, 'orders');

    const read = await failure(() => api.read({}));
    expect([read.error.status, read.error.code]).toEqual([503, 'CATALOG.UNAVAILABLE']);
    expect(service.seen.map((s) => s.url)).toEqual(['/internal/catalog/read', '/internal/catalog/read']);

    service.seen.length = 0;
    const write = await failure(() => api.write({}));
    expect([write.error.status, write.error.code]).toEqual([503, 'CATALOG.UNAVAILABLE']);
    expect(service.seen.map((s) => s.url)).toEqual(['/internal/catalog/write']);

    expect(await callCount(metrics, 'read', 'unavailable')).toBe(1);
    expect(await callCount(metrics, 'write', 'unavailable')).toBe(1);
  });

  it('counts every attempt against the breaker: three failing calls of an idempotent operation open it (ADR 0012)', async () => {
    const service = await rawService((req) => req.socket.destroy());
    const { remote } = remoteCatalog({ url: service.url, contract: retryContract });
    const api = remoteBinding(retryApi, remote, 'orders');
    await failure(() => api.read({}));
    await failure(() => api.read({}));
    expect([service.seen.length, remote.breakerState]).toEqual([4, 'closed']);
    // The fifth failed attempt opens it; the retry of that call meets the open breaker.
    const third = await failure(() => api.read({}));
    expect([service.seen.length, remote.breakerState]).toEqual([BREAKER_THRESHOLD, 'open']);
    expect([third.error.status, third.error.code]).toEqual([503, 'CATALOG.UNAVAILABLE']);
    const fourth = await failure(() => api.read({}));
    expect(fourth.error.message).toBe('module catalog is unavailable: its circuit breaker is open after repeated failures');
    expect(service.seen).toHaveLength(BREAKER_THRESHOLD);
  });

  it('retries an idempotent operation into a success when only the first attempt loses its connection', async () => {
    let attempts = 0;
    const service = await rawService((req, res) => (++attempts === 1 ? req.socket.destroy() : answer(res, 200, { ok: true })));
    const { remote, metrics } = remoteCatalog({ url: service.url, contract: retryContract });
    expect(await remoteBinding(retryApi, remote, 'orders').read({})).toEqual({ ok: true });
    expect(service.seen).toHaveLength(2);
    expect(await callCount(metrics, 'read', 'ok')).toBe(1);
  });
});
