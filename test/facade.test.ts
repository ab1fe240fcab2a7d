import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../src/app.js';
import { createApp, loadConfig, type App } from '../src/kernel/index.js';
import { FACADE_HEADER } from '../src/kernel/remote/facade.js';
import { ServiceTokenIssuer } from '../src/kernel/remote/service-token.js';
import { BREAKER_THRESHOLD } from '../src/kernel/remote/remote-module.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { splitProcessEnv } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

/**
 * The gateway facade: a process that runs catalog, orders and shipping and
 * proxies `/api/payments/...` to wherever payments runs. Here "payments" is
 * a raw node:http server this test controls, so what crosses the proxy can
 * be seen byte for byte; other gateways point at a closed port, a service
 * that never answers, and another gateway (a loop).
 */

const SECRET = 'facade-test-secret-0123456789-abcdefghij';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HANG_TIMEOUT_MS = 400;

// ---------------------------------------------------------------- the "payments" service

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Requests that reached the echo service (its own health probes apart). */
const seen: Seen[] = [];
/** Bytes of the streamed answer, in 256 KiB chunks of one byte value each. */
const STREAM_HEAD = Buffer.alloc(64 * 1024, 1);
const STREAM_TAIL = Array.from({ length: 16 }, (_, i) => Buffer.alloc(256 * 1024, (i * 7 + 3) % 251));
let releaseStream: () => void = () => undefined;
let uploadStarted: (bytes: number) => void = () => undefined;

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function echo(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"up"}');
    return;
  }
  if (req.url === '/api/payments/upload') {
    // Answers once the body has ended; notes when its first bytes arrived.
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      if (bytes === 0) uploadStarted(chunk.length);
      bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.alloc(0) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
    });
    return;
  }
  const body = await readAll(req);
  seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
  if (req.url === '/api/payments/stream') {
    // The head now, the tail (4 MiB) only once the test has seen the head arrive through the gateway.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-stream': 'yes' });
    res.write(STREAM_HEAD);
    await new Promise<void>((go) => (releaseStream = go));
    for (const chunk of STREAM_TAIL) if (!res.write(chunk)) await new Promise((drained) => res.once('drain', drained));
    res.end();
    return;
  }
  if (req.url === '/api/payments/fail') {
    res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream broke');
    return;
  }
  // /api/payments/echo...: the status asked for, headers end to end and hop by hop, the body back as it came.
  const headers: Record<string, string | string[]> = {
    'content-type': req.headers['content-type'] ?? 'application/octet-stream',
    'x-echo-method': req.method!,
    'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
    connection: 'keep-alive, x-resp-hop',
    'x-resp-hop': 'must not cross',
    'keep-alive': 'timeout=77, max=9',
    'proxy-authenticate': 'Basic realm="upstream"',
    upgrade: 'h2c',
  };
  if (req.headers['x-request-id'] !== undefined && req.headers['x-echo-id'] !== 'no') headers['x-request-id'] = req.headers['x-request-id'];
  res.writeHead(Number(req.headers['x-want-status'] ?? 200), headers);
  res.end(body);
}

// ---------------------------------------------------------------- the gateways

let database: TestDatabase;
let prefix: string;
const servers: Server[] = [];
const apps: App[] = [];
let echoUrl: string;
let refusedUrl: string;
let hangSeen = 0;
/** payments → echo service */
let gateway: string;
/** payments → a closed port */
let refusing: string;
/** payments → a service that never answers */
let hanging: string;
/** payments → the first gateway, which proxies it again */
let looping: string;
let loopingApp: App;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startGateway(paymentsUrl: string, env: Record<string, string> = {}): Promise<string> {
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    ...splitProcessEnv({ modules: ['catalog', 'orders', 'shipping'], elsewhere: paymentsUrl, prefix, secret: SECRET, databaseUrl: database.url }),
    REMOTE_BREAKER_HALF_OPEN_MS: '60000',
    ...env,
  });
  const app = await createApp({ modules: SHOP_MODULES, config, topologyFile: SHOP_TOPOLOGY_FILE });
  apps.push(app);
  return (await app.start()).url;
}

beforeAll(async () => {
  database = await createTestDatabase('mmk_facade');
  prefix = testQueuePrefix();
  echoUrl = await listen(createServer((req, res) => void echo(req, res)));
  const closed = createServer();
  refusedUrl = await listen(closed);
  await new Promise((done) => closed.close(done));
  servers.splice(servers.indexOf(closed), 1);
  const hangUrl = await listen(createServer(() => void (hangSeen += 1)));
  // One after the other: the first one migrates the shared database.
  gateway = await startGateway(echoUrl);
  refusing = await startGateway(refusedUrl);
  hanging = await startGateway(hangUrl, { REMOTE_TIMEOUT_MS: String(HANG_TIMEOUT_MS) });
  looping = await startGateway(gateway);
  loopingApp = apps.at(-1)!;
});

afterAll(async () => {
  releaseStream();
  for (const server of servers) server.closeAllConnections();
  await Promise.all(apps.map((app) => app.stop()));
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  await database?.drop();
  if (prefix) await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

// ---------------------------------------------------------------- helpers

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  json(): any;
  ms: number;
}

/** One request with node:http (fetch refuses hop-by-hop headers), on a connection of its own. */
function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers, agent: false }, (res) => {
      readAll(res).then(
        (data) => resolve({ status: res.statusCode!, headers: res.headers, body: data, json: () => JSON.parse(data.toString('utf8')), ms: performance.now() - started }),
        reject,
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectUnavailable(res: Answer, message: string | RegExp): void {
  expect(res.status, res.body.toString()).toBe(503);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.json()).toEqual({ error: { code: 'PAYMENTS.UNAVAILABLE', message: expect.stringMatching(message) } });
  expect(res.headers['x-request-id']).toMatch(/^[\w.:-]+$/);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const last = () => seen.at(-1)!;
/** `promise`, or a failure naming `what` after `ms` (a buffering proxy would otherwise hang the test until its timeout). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
const esc = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

async function metricCount(base: string, labels: string): Promise<number> {
  const text = (await send(base, 'GET', '/metrics')).body.toString();
  const line = text.split('\n').find((l) => l.startsWith(`remote_call_duration_seconds_count{${labels}}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

// ---------------------------------------------------------------- tests

describe('the facade of a remote module', () => {
  it('keeps the method, path, query, status, end-to-end headers and body both ways; the body is not parsed', async () => {
    const body = '{"this is": not JSON, and must not be parsed';
    const res = await send(gateway, 'PATCH', '/api/payments/echo/wallets/c-1?expand=history&x=%20y', {
      'content-type': 'application/json',
      authorization: 'Bearer end-user-token',
      cookie: 'session=abc',
      'x-custom': 'kept',
      'x-want-status': '418',
      'x-request-id': 'client-req-1',
    }, body);
    expect(res.status).toBe(418);
    expect(res.body.toString()).toBe(body);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-echo-method']).toBe('PATCH');
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(res.headers['x-request-id']).toBe('client-req-1');

    const upstream = last();
    expect(upstream.method).toBe('PATCH');
    expect(upstream.url).toBe('/api/payments/echo/wallets/c-1?expand=history&x=%20y');
    expect(upstream.body.toString()).toBe(body);
    expect(upstream.headers).toMatchObject({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      authorization: 'Bearer end-user-token',
      cookie: 'session=abc',
      'x-custom': 'kept',
      'x-request-id': 'client-req-1',
    });
    // The gateway listens on every address, so the client's IPv4 address may arrive mapped to IPv6.
    expect(upstream.headers['x-forwarded-for']).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    expect(upstream.headers[FACADE_HEADER]).toMatch(/^[0-9a-f]{12}$/);

    // Other statuses and methods, an empty answer included.
    for (const [method, status] of [['GET', 200], ['POST', 201], ['DELETE', 204], ['PUT', 409]] as const) {
      const answer = await send(gateway, method, '/api/payments/echo', { 'x-want-status': String(status) }, method === 'GET' || method === 'DELETE' ? undefined : 'x');
      expect([answer.status, answer.headers['x-echo-method']]).toEqual([status, method]);
    }
  });

  it('passes a 5xx of the service on as it is', async () => {
    const res = await send(gateway, 'GET', '/api/payments/fail');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.body.toString()).toBe('upstream broke');
    // One failure is not enough to open anything.
    expect((await send(gateway, 'GET', '/api/payments/echo')).status).toBe(200);
  });

  it('drops hop-by-hop headers, and those named in connection, both ways', async () => {
    const res = await send(gateway, 'GET', '/api/payments/echo/hop', {
      connection: 'keep-alive, x-client-hop',
      'x-client-hop': 'must not cross',
      'keep-alive': 'timeout=33',
      te: 'trailers',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      'proxy-connection': 'keep-alive',
      'x-end-to-end': 'crosses',
    });
    expect(res.status).toBe(200);
    const upstream = last();
    expect(upstream.url).toBe('/api/payments/echo/hop');
    for (const name of ['x-client-hop', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection']) expect(upstream.headers[name], name).toBeUndefined();
    // The gateway's own connection to the service, not the client's header.
    expect(upstream.headers.connection).toBe('keep-alive');
    expect(upstream.headers['x-end-to-end']).toBe('crosses');

    expect(res.headers['x-resp-hop']).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
    expect(res.headers.upgrade).toBeUndefined();
    // The gateway may speak keep-alive with its client, in its own words.
    expect(res.headers['keep-alive'] ?? '').not.toContain('timeout=77');
    expect(res.headers.connection ?? '').not.toContain('x-resp-hop');
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
  });

  it('keeps the x-request-id it is given, and makes one (and forwards it) when there is none or it is unusable', async () => {
    const made = await send(gateway, 'GET', '/api/payments/echo/id');
    const id = last().headers['x-request-id'];
    expect(id).toMatch(UUID);
    // The service (a kit process echoes it) and the client see the same id.
    expect(made.headers['x-request-id']).toBe(id);

    const bad = await send(gateway, 'GET', '/api/payments/echo/id', { 'x-request-id': 'has spaces in it' });
    expect(last().headers['x-request-id']).toMatch(UUID);
    expect(bad.headers['x-request-id']).toBe(last().headers['x-request-id']);

    await send(gateway, 'GET', '/api/payments/echo/id', { 'x-request-id': 'given.id:7-x' });
    expect(last().headers['x-request-id']).toBe('given.id:7-x');

    // A service that does not echo it: the client still gets the id.
    const silent = await send(gateway, 'GET', '/api/payments/echo/id', { 'x-request-id': 'given.id:8-y', 'x-echo-id': 'no' });
    expect(silent.headers['x-request-id']).toBe('given.id:8-y');
  });

  it('streams a large chunked answer: its head reaches the client before the service has written the rest', async () => {
    const before = seen.length;
    const { status, headers, received, done } = await within(new Promise<{ status: number; headers: IncomingHttpHeaders; received: Buffer[]; done: Promise<void> }>((resolve, reject) => {
      const req = httpRequest(`${gateway}/api/payments/stream`, { agent: false }, (res) => {
        const received: Buffer[] = [];
        let headBytes = 0;
        const done = new Promise<void>((ended) => res.on('end', ended));
        res.on('data', (chunk: Buffer) => {
          received.push(chunk);
          headBytes += chunk.length;
          if (headBytes >= STREAM_HEAD.length && received.length > 0) resolve({ status: res.statusCode!, headers: res.headers, received, done });
        });
      });
      req.on('error', reject);
      req.end();
    }), 5_000, 'the head of the answer reaching the client before the tail was written');
    // The whole head is here; the service has not written one byte of the tail yet.
    expect(status).toBe(200);
    expect(Buffer.concat(received)).toEqual(STREAM_HEAD);
    expect(headers['x-stream']).toBe('yes');
    expect(headers['transfer-encoding']).toBe('chunked');
    expect(headers['content-length']).toBeUndefined();
    expect(seen.length).toBe(before + 1);
    releaseStream();
    await done;
    const body = Buffer.concat(received);
    const expected = Buffer.concat([STREAM_HEAD, ...STREAM_TAIL]);
    expect(body.length).toBe(expected.length);
    expect(sha256(body)).toBe(sha256(expected));
  });

  it('streams the request body: the service reads its first bytes before the client has sent the rest', async () => {
    const parts = Array.from({ length: 12 }, (_, i) => Buffer.alloc(256 * 1024, (i * 13 + 5) % 251));
    const started = new Promise<number>((resolve) => (uploadStarted = resolve));
    const answer = new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(`${gateway}/api/payments/upload`, { method: 'POST', agent: false, headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } }, (res) => {
        readAll(res).then((data) => resolve({ status: res.statusCode!, headers: res.headers, body: data, json: () => JSON.parse(data.toString()), ms: 0 }), reject);
      });
      req.on('error', reject);
      req.write(parts[0]);
      // The rest only once the service has seen the beginning.
      void started.then(async () => {
        for (const part of parts.slice(1)) if (!req.write(part)) await new Promise((drained) => req.once('drain', drained));
        req.end();
      });
    });
    expect(await within(started, 5_000, 'the first bytes of the body reaching the service before the rest was sent')).toBeGreaterThan(0);
    const res = await answer;
    expect(res.status).toBe(200);
    const whole = Buffer.concat(parts);
    expect(res.json()).toEqual({ bytes: whole.length, sha256: sha256(whole) });
    expect(last().headers['transfer-encoding']).toBe('chunked');
    expect(last().headers['content-type']).toBe('application/octet-stream');
  });

  it('never proxies /internal/<remote module>/...: the gateway answers it', async () => {
    const before = seen.length;
    const anonymous = await send(gateway, 'POST', '/internal/payments/capture', { 'content-type': 'application/json' }, '{}');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json()).toEqual({ error: { code: 'KERNEL.UNAUTHENTICATED', message: 'a service token is required (authorization: Bearer <token>)' } });
    // With a token for payments, the gateway says that payments offers nothing here, rather than forwarding.
    const token = await new ServiceTokenIssuer(SECRET).tokenFor('orders', 'payments');
    const res = await send(gateway, 'POST', '/internal/payments/capture', { 'content-type': 'application/json', authorization: `Bearer ${token}` }, '{}');
    expect(res.status).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'KERNEL.NOT_FOUND', message: 'module payments offers no API in this process (it runs elsewhere, or has no API)' } });
    expect(seen.length).toBe(before);
  });

  it('leaves the routes of the other modules, and look-alike paths, to this process', async () => {
    const before = seen.length;
    const shop = new ShopClient(gateway);
    const product = await shop.createProduct(3, 500);
    expect((await shop.getProduct(product.id)).stock).toBe(3);
    const lookalike = await send(gateway, 'GET', '/api/paymentsx/wallets');
    expect(lookalike.status).toBe(404);
    expect(lookalike.json().error.code).toBe('HTTP.ROUTE_NOT_FOUND');
    expect((await send(gateway, 'GET', '/api/orders?customerId=nobody')).status).toBe(200);
    expect(seen.length).toBe(before);
  });

  it('reports the remote module up in /health while its service answers', async () => {
    const res = await send(gateway, 'GET', '/health');
    expect(res.status).toBe(200);
    const health = res.json();
    expect(health.status).toBe('up');
    expect(health.modules.payments).toEqual({ status: 'up', location: 'remote', checks: { service: 'up' }, url: echoUrl, breaker: 'closed' });
    expect(health.modules.catalog).toEqual({ status: 'up', location: 'local', checks: { database: 'up' } });
  });

  it('refuses with 508 a request another facade already proxied', async () => {
    const before = seen.length;
    const res = await send(looping, 'GET', '/api/payments/echo/loop', { 'x-request-id': 'loop-1' });
    expect(res.status).toBe(508);
    expect(res.json()).toEqual({
      error: { code: 'KERNEL.PROXY_LOOP', message: 'a request for module payments was proxied twice: check that SERVICE_URL_PAYMENTS points at the process that runs it' },
    });
    expect(res.headers['x-request-id']).toBe('loop-1');
    const direct = await send(gateway, 'GET', '/api/payments/echo/loop', { [FACADE_HEADER]: 'elsewhere' });
    expect(direct.status).toBe(508);
    expect(seen.length).toBe(before);
  });
});

describe('the facade of a remote module that answers 5xx', () => {
  it('passes each 5xx on as it is, counts it as failed, and does not open the breaker (the service is there)', async () => {
    // The looping gateway's service (the first gateway) answers 508 every time.
    const before = seen.length;
    const failed = await metricCount(looping, 'module="payments",operation="proxy",outcome="failed"');
    for (let i = 0; i < BREAKER_THRESHOLD + 1; i++) {
      const res = await send(looping, 'GET', '/api/payments/echo/loop');
      expect([res.status, res.json().error.code]).toEqual([508, 'KERNEL.PROXY_LOOP']);
    }
    expect(await metricCount(looping, 'module="payments",operation="proxy",outcome="failed"')).toBe(failed + BREAKER_THRESHOLD + 1);
    expect(loopingApp.remotes.get('payments')!.breakerState).toBe('closed');
    // The first gateway refused them before proxying: its service was never reached, and its breaker is closed too.
    expect(seen.length).toBe(before);
    expect((await send(gateway, 'GET', '/api/payments/echo/still-up')).status).toBe(200);
    expect((await send(gateway, 'GET', '/health')).json().modules.payments.breaker).toBe('closed');
  });
});

describe('the facade of a remote module that is down', () => {
  it('answers 503 PAYMENTS.UNAVAILABLE when the connection is refused, and after 5 failures in under 100 ms without trying', async () => {
    for (let i = 0; i < BREAKER_THRESHOLD; i++) {
      const res = await send(refusing, 'POST', '/api/payments/wallets', { 'content-type': 'application/json', 'x-request-id': `refused-${i}` }, '{"customerId":"c","balanceCents":1}');
      expectUnavailable(res, /^module payments is unavailable: .*ECONNREFUSED/);
      expect(res.headers['x-request-id']).toBe(`refused-${i}`);
    }
    for (let i = 0; i < 3; i++) {
      const res = await send(refusing, 'GET', '/api/payments/wallets/c');
      expectUnavailable(res, esc('module payments is unavailable: its circuit breaker is open after repeated failures'));
      expect(res.ms).toBeLessThan(100);
    }
    expect(await metricCount(refusing, 'module="payments",operation="proxy",outcome="unavailable"')).toBe(BREAKER_THRESHOLD);
    expect(await metricCount(refusing, 'module="payments",operation="proxy",outcome="open"')).toBe(3);
  });

  it('reports /health degraded (200) with the breaker open, and keeps serving the other modules', async () => {
    const res = await send(refusing, 'GET', '/health');
    expect(res.status).toBe(200);
    const health = res.json();
    expect(health.status).toBe('degraded');
    expect(health.services).toEqual({ database: 'up', eventBus: 'up' });
    expect(health.modules.payments).toEqual({ status: 'down', location: 'remote', checks: { service: 'down' }, url: refusedUrl, breaker: 'open' });
    for (const name of ['catalog', 'orders', 'shipping']) expect(health.modules[name]).toEqual({ status: 'up', location: 'local', checks: { database: 'up' } });
    expect((await send(refusing, 'GET', '/metrics')).body.toString()).toMatch(/^remote_breaker_state\{module="payments"\} 1$/m);

    const shop = new ShopClient(refusing);
    const product = await shop.createProduct(2, 700);
    expect(await shop.getProduct(product.id)).toMatchObject({ id: product.id, stock: 2, priceCents: 700 });
  });

  it('answers 503 within REMOTE_TIMEOUT_MS when the service never answers', async () => {
    const res = await send(hanging, 'GET', '/api/payments/wallets/c', { 'x-request-id': 'hang-1' });
    expectUnavailable(res, esc(`module payments is unavailable: no answer within ${HANG_TIMEOUT_MS} ms (REMOTE_TIMEOUT_MS)`));
    expect(res.headers['x-request-id']).toBe('hang-1');
    expect(res.ms).toBeGreaterThanOrEqual(HANG_TIMEOUT_MS - 10);
    expect(res.ms).toBeLessThan(HANG_TIMEOUT_MS + 1_000);
    expect(hangSeen).toBe(1);
    expect(await metricCount(hanging, 'module="payments",operation="proxy",outcome="timeout"')).toBe(1);
  });
});
