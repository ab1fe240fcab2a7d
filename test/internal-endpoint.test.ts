import { randomUUID } from 'node:crypto';
import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERNAL_BODY_LIMIT } from '../src/kernel/remote/internal-endpoint.js';
import { ServiceTokenIssuer } from '../src/kernel/remote/service-token.js';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient, type HttpResult } from './support/shop-client.js';
import { splitProcessEnv } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

/**
 * `POST /internal/<module>/<operation>` of a real catalog process
 * (`MODULES=catalog`, the other modules elsewhere): the calls orders makes
 * to catalog once they run apart. Each refusal has its exact status and code.
 */

const SECRET = 'internal-endpoint-test-secret-0123456789';
const issuer = new ServiceTokenIssuer(SECRET);
const key = (secret: string) => new TextEncoder().encode(secret);

let database: TestDatabase;
let prefix: string;
let catalog: ChildApp;
let shop: ShopClient;
let product: { id: string; priceCents: number };

/** A local URL nothing listens on. */
async function unusedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return `http://127.0.0.1:${port}`;
}

beforeAll(async () => {
  database = await createTestDatabase('mmk_internal');
  prefix = testQueuePrefix();
  const nowhere = await unusedUrl();
  catalog = await startChildApp(splitProcessEnv({ modules: ['catalog'], elsewhere: nowhere, prefix, secret: SECRET, databaseUrl: database.url }));
  shop = new ShopClient(catalog.url);
  product = await shop.createProduct(5, 1_234);
});

afterAll(async () => {
  await catalog?.kill('SIGKILL');
  await database?.drop();
  if (prefix) await dropRedisPrefix(TEST_REDIS_URL, prefix);
});

/** A token signed by hand, to break one claim at a time. */
async function signed(claims: { iss?: string; aud?: string; iat?: number; exp?: number }, secret = SECRET, alg = 'HS256'): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg, typ: 'JWT' });
  if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
  if (claims.aud !== undefined) jwt.setAudience(claims.aud);
  if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
  if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
  return jwt.sign(key(secret));
}

const now = () => Math.floor(Date.now() / 1000);
const bearer = async (caller = 'orders', callee = 'catalog') => ({ authorization: `Bearer ${await issuer.tokenFor(caller, callee)}` });
const jsonAs = async (caller = 'orders') => ({ 'content-type': 'application/json', ...(await bearer(caller)) });

function post(path: string, body: unknown, headers: Record<string, string>): Promise<HttpResult> {
  return shop.request('POST', path, body, headers);
}

/** The kit's error JSON with exactly this status and code. */
function expectError(res: HttpResult, status: number, code: string, message?: string | RegExp): void {
  const shown = `${res.status} ${JSON.stringify(res.body)}`;
  expect(res.status, shown).toBe(status);
  expect(res.headers.get('content-type'), shown).toMatch(/^application\/json/);
  expect(res.body.error.code, shown).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  if (message !== undefined) expect(res.body.error.message).toMatch(message);
}

/** Sends a raw request with node:http (fetch cannot stream a body without a length, nor leave a 413 half-sent). */
function rawPost(path: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${catalog.url}${path}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    // The server answers 413 before the body is read and closes: writing the rest may then fail, which is expected.
    req.on('error', (error) => reject(error));
    (async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return;
        if (!req.write(chunk)) await new Promise((drained) => req.once('drain', drained));
      }
      req.end();
    })().catch(() => undefined);
  });
}

describe('POST /internal/catalog/<operation>', () => {
  it('answers 200 with the output JSON for a valid call by orders', async () => {
    const priced = await post('/internal/catalog/priceItems', { items: [{ productId: product.id, quantity: 3 }] }, await jsonAs());
    expect(priced.status, JSON.stringify(priced.body)).toBe(200);
    expect(priced.headers.get('content-type')).toMatch(/^application\/json/);
    expect(priced.body).toEqual({ items: [{ productId: product.id, quantity: 3, unitPriceCents: 1_234 }], totalCents: 3_702 });

    const found = await post('/internal/catalog/getProduct', { id: product.id }, await jsonAs());
    expect(found.status).toBe(200);
    expect(found.body).toEqual({ id: product.id, sku: expect.stringMatching(/^sku-/), name: 'Test product', priceCents: 1_234, stock: 5 });

    // `null` is an output like any other.
    const missing = await fetch(`${catalog.url}/internal/catalog/getProduct`, { method: 'POST', headers: await jsonAs(), body: JSON.stringify({ id: randomUUID() }) });
    expect(missing.status).toBe(200);
    expect(await missing.text()).toBe('null');

    // A charset parameter is still JSON.
    const charset = await post('/internal/catalog/getProduct', { id: product.id }, { ...(await jsonAs()), 'content-type': 'application/json; charset=utf-8' });
    expect(charset.status).toBe(200);
  });

  it('lets a business error of the operation cross with its status, code and details', async () => {
    const unknown = randomUUID();
    const res = await post('/internal/catalog/priceItems', { items: [{ productId: product.id, quantity: 1 }, { productId: unknown, quantity: 1 }] }, await jsonAs());
    expectError(res, 422, 'CATALOG.UNKNOWN_PRODUCT', `unknown product ${unknown}`);
    expect(res.body.error.details).toEqual({ productIds: [unknown] });
  });

  describe('401 without a valid service token', () => {
    const priceItems = () => ({ items: [{ productId: product.id, quantity: 1 }] });

    it('no token, or not a bearer token', async () => {
      const none = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json' });
      expectError(none, 401, 'KERNEL.UNAUTHENTICATED', 'a service token is required (authorization: Bearer <token>)');
      const basic = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('orders:x').toString('base64')}` });
      expectError(basic, 401, 'KERNEL.UNAUTHENTICATED', 'a service token is required (authorization: Bearer <token>)');
      const garbage = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: 'Bearer not-a-jwt' });
      expectError(garbage, 401, 'KERNEL.UNAUTHENTICATED', /^the service token is not valid: /);
    });

    it('a token signed with another secret', async () => {
      const token = await new ServiceTokenIssuer('another-secret-of-at-least-32-characters!').tokenFor('orders', 'catalog');
      const res = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Bearer ${token}` });
      expectError(res, 401, 'KERNEL.UNAUTHENTICATED', 'the service token is not valid: signature verification failed');
    });

    it('an expired token', async () => {
      const token = await signed({ iss: 'orders', aud: 'catalog', iat: now() - 120, exp: now() - 60 });
      const res = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Bearer ${token}` });
      expectError(res, 401, 'KERNEL.UNAUTHENTICATED', 'the service token has expired');
    });

    it('a token for another audience', async () => {
      const res = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', ...(await bearer('orders', 'payments')) });
      expectError(res, 401, 'KERNEL.UNAUTHENTICATED', /^the service token is not valid: unexpected "aud" claim value$/);
      // The same token, once verified for its own audience, is still refused for catalog (the verifier's cache keeps the audience).
      const token = await signed({ iss: 'orders', aud: 'catalog', iat: now(), exp: now() + 60 });
      expect((await post('/internal/catalog/getProduct', { id: product.id }, { 'content-type': 'application/json', authorization: `Bearer ${token}` })).status).toBe(200);
      const other = await signed({ iss: 'orders', aud: 'shipping', iat: now(), exp: now() + 60 });
      expectError(await post('/internal/catalog/getProduct', { id: product.id }, { 'content-type': 'application/json', authorization: `Bearer ${other}` }), 401, 'KERNEL.UNAUTHENTICATED');
    });

    it('a token living longer than 60 s, or issued too long ago', async () => {
      const long = await signed({ iss: 'orders', aud: 'catalog', iat: now(), exp: now() + 3_600 });
      expectError(await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Bearer ${long}` }), 401, 'KERNEL.UNAUTHENTICATED', 'a service token may live at most 60 s');
      const old = await signed({ iss: 'orders', aud: 'catalog', iat: now() - 90, exp: now() + 30 });
      expectError(await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Bearer ${old}` }), 401, 'KERNEL.UNAUTHENTICATED');
    });

    it('a token without iat or exp, or signed with another algorithm', async () => {
      for (const token of [
        await signed({ iss: 'orders', aud: 'catalog', exp: now() + 60 }),
        await signed({ iss: 'orders', aud: 'catalog', iat: now() }),
        await signed({ aud: 'catalog', iat: now(), exp: now() + 60 }),
        await signed({ iss: 'orders', aud: 'catalog', iat: now(), exp: now() + 60 }, SECRET, 'HS512'),
      ]) {
        const res = await post('/internal/catalog/priceItems', priceItems(), { 'content-type': 'application/json', authorization: `Bearer ${token}` });
        expectError(res, 401, 'KERNEL.UNAUTHENTICATED', /^the service token is not valid: /);
      }
    });

    it('is checked before the body is read', async () => {
      const res = await post('/internal/catalog/priceItems', '{not json', { 'content-type': 'application/json' });
      expectError(res, 401, 'KERNEL.UNAUTHENTICATED');
    });
  });

  it('403 for a caller whose module.json does not declare catalog (payments)', async () => {
    const res = await post('/internal/catalog/priceItems', { items: [{ productId: product.id, quantity: 1 }] }, await jsonAs('payments'));
    expectError(res, 403, 'KERNEL.FORBIDDEN', 'module payments does not declare a dependency on catalog (module.json dependsOn), so it may not call it');
    // Nor may catalog call itself: it declares no dependency on itself.
    expectError(await post('/internal/catalog/priceItems', { items: [{ productId: product.id, quantity: 1 }] }, await jsonAs('catalog')), 403, 'KERNEL.FORBIDDEN');
  });

  it('400 for invalid input, with the details of the schema', async () => {
    const empty = await post('/internal/catalog/priceItems', { items: [] }, await jsonAs());
    expectError(empty, 400, 'CATALOG.INVALID_INPUT', 'catalog.priceItems: invalid input');
    expect(empty.body.error.details).toEqual([expect.objectContaining({ code: 'too_small', path: ['items'] })]);

    const extra = await post('/internal/catalog/getProduct', { id: product.id, admin: true }, await jsonAs());
    expectError(extra, 400, 'CATALOG.INVALID_INPUT');
    expect(extra.body.error.details).toEqual([expect.objectContaining({ code: 'unrecognized_keys', keys: ['admin'] })]);

    const notUuid = await post('/internal/catalog/getProduct', { id: 'x' }, await jsonAs());
    expectError(notUuid, 400, 'CATALOG.INVALID_INPUT');
    expect(notUuid.body.error.details).toEqual([expect.objectContaining({ path: ['id'] })]);

    // An empty body is not JSON.
    expectError(await post('/internal/catalog/getProduct', '', await jsonAs()), 400, 'HTTP.MALFORMED_JSON');
  });

  it('400 for malformed JSON', async () => {
    const res = await post('/internal/catalog/priceItems', '{"items": [', await jsonAs());
    expectError(res, 400, 'HTTP.MALFORMED_JSON', 'request body is not valid JSON');
  });

  it('413 over 1 MiB, with or without a content-length', async () => {
    const big = Buffer.from(JSON.stringify({ items: [{ productId: product.id, quantity: 1 }], pad: 'x'.repeat(INTERNAL_BODY_LIMIT) }));
    expect(big.length).toBeGreaterThan(INTERNAL_BODY_LIMIT);
    const auth = await jsonAs();
    const declared = await rawPost('/internal/catalog/priceItems', { ...auth, 'content-length': String(big.length) }, [big]);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('HTTP.PAYLOAD_TOO_LARGE');
    expect(declared.headers.connection).toBe('close');

    // Chunked: the limit is counted as the body arrives.
    const chunks = Array.from({ length: 20 }, (_, i) => big.subarray(i * 64 * 1024, (i + 1) * 64 * 1024)).filter((c) => c.length > 0);
    const chunked = await rawPost('/internal/catalog/priceItems', { ...auth, 'transfer-encoding': 'chunked' }, chunks);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toEqual({ error: { code: 'HTTP.PAYLOAD_TOO_LARGE', message: `request body is larger than ${INTERNAL_BODY_LIMIT} bytes` } });

    // Exactly at the limit is read (and then judged by the schema).
    const padded = JSON.stringify({ items: [{ productId: product.id, quantity: 1 }], pad: '' });
    const atLimit = Buffer.from(padded.replace('"pad":""', `"pad":"${'x'.repeat(INTERNAL_BODY_LIMIT - padded.length)}"`));
    expect(atLimit.length).toBe(INTERNAL_BODY_LIMIT);
    const limit = await rawPost('/internal/catalog/priceItems', { ...auth, 'content-length': String(atLimit.length) }, [atLimit]);
    expect(limit.status).toBe(400);
    expect(JSON.parse(limit.body).error.code).toBe('CATALOG.INVALID_INPUT');
  });

  it('415 for a body that is not JSON', async () => {
    const auth = await bearer();
    for (const type of ['text/plain', 'application/jsonx', 'application/x-www-form-urlencoded']) {
      const res = await post('/internal/catalog/priceItems', JSON.stringify({ items: [{ productId: product.id, quantity: 1 }] }), { ...auth, 'content-type': type });
      expectError(res, 415, 'HTTP.UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    }
    const none = await fetch(`${catalog.url}/internal/catalog/priceItems`, { method: 'POST', headers: auth, body: new Uint8Array(Buffer.from('{}')) });
    expect(none.status).toBe(415);
  });

  it('401 before anything else: without a valid token nothing is learned, not even which modules run here', async () => {
    const json = { 'content-type': 'application/json' };
    for (const path of ['/internal/catalog/deleteEverything', '/internal/inventory/count', '/internal/orders/anything', '/internal/catalog/priceItems']) {
      expectError(await post(path, {}, json), 401, 'KERNEL.UNAUTHENTICATED', 'a service token is required (authorization: Bearer <token>)');
      expectError(await shop.request('GET', path), 401, 'KERNEL.UNAUTHENTICATED');
    }
    // A token is good for the module it names only: catalog's says nothing about inventory or orders.
    // (Its message depends on whether the verifier has this token in its cache of verified ones.)
    expectError(
      await post('/internal/inventory/count', {}, await jsonAs()),
      401,
      'KERNEL.UNAUTHENTICATED',
      /^(the service token is for catalog, not inventory|the service token is not valid: unexpected "aud" claim value)$/,
    );
  });

  it('404 for an unknown operation, an unknown module, and a module that does not run here', async () => {
    const auth = await jsonAs();
    expectError(await post('/internal/catalog/deleteEverything', {}, auth), 404, 'CATALOG.UNKNOWN_OPERATION', 'module catalog has no operation "deleteEverything"');
    // Inherited properties are no operations.
    expectError(await post('/internal/catalog/toString', {}, auth), 404, 'CATALOG.UNKNOWN_OPERATION');
    expectError(await post('/internal/catalog/__proto__', {}, auth), 404, 'CATALOG.UNKNOWN_OPERATION');
    expectError(await post('/internal/catalog/priceItems/extra', {}, auth), 404, 'CATALOG.UNKNOWN_OPERATION');
    expectError(await post('/internal/catalog', {}, auth), 404, 'CATALOG.UNKNOWN_OPERATION');
    // Before the caller's dependency is looked at: payments learns that the operation does not exist.
    expectError(await post('/internal/catalog/deleteEverything', {}, await jsonAs('payments')), 404, 'CATALOG.UNKNOWN_OPERATION');
    const forInventory = { 'content-type': 'application/json', ...(await bearer('orders', 'inventory')) };
    expectError(await post('/internal/inventory/count', {}, forInventory), 404, 'KERNEL.NOT_FOUND', 'no module "inventory"');
    // orders is a module of the system, but it runs elsewhere: this process does not forward internal calls.
    const forOrders = { 'content-type': 'application/json', ...(await bearer('shipping', 'orders')) };
    expectError(await post('/internal/orders/anything', {}, forOrders), 404, 'KERNEL.NOT_FOUND', 'module orders offers no API in this process (it runs elsewhere, or has no API)');
  });

  it('405 for another method, with allow: POST (after the token and the caller are checked)', async () => {
    const auth = await bearer();
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await shop.request(method, '/internal/catalog/priceItems', undefined, auth);
      expectError(res, 405, 'HTTP.METHOD_NOT_ALLOWED', `${method} is not allowed on /internal/catalog/priceItems; use POST`);
      expect(res.headers.get('allow')).toBe('POST');
    }
    expectError(await shop.request('GET', '/internal/catalog/priceItems', undefined, await bearer('payments')), 403, 'KERNEL.FORBIDDEN');
  });

  it('keeps the x-request-id it is given and makes one otherwise', async () => {
    const body = { id: product.id };
    const given = await post('/internal/catalog/getProduct', body, { ...(await jsonAs()), 'x-request-id': 'orders-req.42:a' });
    expect(given.status).toBe(200);
    expect(given.headers.get('x-request-id')).toBe('orders-req.42:a');

    // On a refusal too.
    const refused = await post('/internal/catalog/getProduct', body, { 'content-type': 'application/json', 'x-request-id': 'refused-1' });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-request-id')).toBe('refused-1');

    const made = await post('/internal/catalog/getProduct', body, await jsonAs());
    const id = made.headers.get('x-request-id');
    expect(id).toMatch(/^[\w.:-]{8,128}$/);

    // An id it cannot accept (spaces, too long) is replaced.
    const bad = await post('/internal/catalog/getProduct', body, { ...(await jsonAs()), 'x-request-id': 'has spaces' });
    expect(bad.headers.get('x-request-id')).not.toBe('has spaces');
    expect(bad.headers.get('x-request-id')).toMatch(/^[\w.:-]{8,128}$/);
    const long = 'a'.repeat(129);
    expect((await post('/internal/catalog/getProduct', body, { ...(await jsonAs()), 'x-request-id': long })).headers.get('x-request-id')).not.toBe(long);
  });

  it('counts the calls in /metrics by route and status', async () => {
    const res = await shop.request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.body as string).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/internal\/catalog\/priceItems",status="200"\} [1-9]\d*$/m);
    expect(res.body as string).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/internal\/:module\/:operation",status="422"\} [1-9]\d*$/m);
    expect(res.body as string).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/internal\/:module\/:operation",status="401"\} [1-9]\d*$/m);
  });
});
