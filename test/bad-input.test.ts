import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, createLogger } from '../src/kernel/index.js';
import { errorHandler, notFoundHandler } from '../src/kernel/http/error-handler.js';
import { responseRecorder } from '../src/kernel/http/request-context.js';
import { createMetrics } from '../src/kernel/health/metrics.js';
import type { HttpResult, ShopClient } from './support/shop-client.js';
import { pgliteTopology, type RunningShop } from './support/topologies.js';

/**
 * Bad input over the public HTTP API: every rejection is a 4xx with the error
 * JSON `{error: {code, message, details?}}`, never a 5xx, and a rejected
 * request writes nothing.
 */

type Body = Record<string, unknown>;
/** Turns the valid body of a route into the raw text actually sent. */
type Mutation = (valid: Body) => string;
type Headers = Record<string, string>;

/** Namespaced codes such as `HTTP.INVALID_INPUT` or `CATALOG.DUPLICATE_SKU`. */
const CODE = /^[A-Z][A-Z0-9_]*\.[A-Z][A-Z0-9_]*$/;
const JSON_HEADERS: Headers = { 'content-type': 'application/json' };
const RAW = '__raw_literal__';
const MAX_SAFE_PLUS_2 = '9007199254740993';
const TWO_POW_31 = 2 ** 31;
const LIMIT_BYTES = 100 * 1024;
const INVALID = [400, 'HTTP.INVALID_INPUT'] as const;
const MALFORMED = [400, 'HTTP.MALFORMED_JSON'] as const;
const MISSING = [400, 'HTTP.MISSING_BODY'] as const;
const NOT_JSON = [415, 'HTTP.UNSUPPORTED_MEDIA_TYPE'] as const;

// ---------------------------------------------------------------- mutations

const json = (value: unknown): Mutation => () => JSON.stringify(value);
const text = (value: string): Mutation => () => value;
const set = (key: string, value: unknown): Mutation => (v) => JSON.stringify({ ...v, [key]: value });
/** A value JSON.stringify cannot produce (1e400, 2^53+1, …), spliced in as text. */
const literal = (key: string, raw: string): Mutation => (v) => JSON.stringify({ ...v, [key]: RAW }).replace(`"${RAW}"`, raw);
const omit = (key: string): Mutation => (v) => JSON.stringify(Object.fromEntries(Object.entries(v).filter(([k]) => k !== key)));
const firstItem = (v: Body): Body => (v.items as Body[])[0]!;
const setItem = (key: string, value: unknown): Mutation => (v) => JSON.stringify({ ...v, items: [{ ...firstItem(v), [key]: value }] });
const itemLiteral = (key: string, raw: string): Mutation => (v) =>
  JSON.stringify({ ...v, items: [{ ...firstItem(v), [key]: RAW }] }).replace(`"${RAW}"`, raw);
const omitItem = (key: string): Mutation => (v) =>
  JSON.stringify({ ...v, items: [Object.fromEntries(Object.entries(firstItem(v)).filter(([k]) => k !== key))] });

// ---------------------------------------------------------------- the shop

let running: RunningShop;
let shop: ShopClient;
/** A product and a rich wallet that rejected orders refer to; neither may change. */
const fixture = { productId: '', customerId: `cust-${randomUUID()}`, stock: 10, priceCents: 100, balanceCents: 1_000_000 };

beforeAll(async () => {
  running = await pgliteTopology().start();
  shop = running.shop;
  fixture.productId = (await shop.createProduct(fixture.stock, fixture.priceCents)).id;
  await shop.createWallet(fixture.balanceCents, fixture.customerId);
});

afterAll(async () => {
  await running?.stop();
});

/** The response is a client error with the kit's error JSON. */
function expectError(res: HttpResult, status: number, code?: string): void {
  const shown = `${res.status} ${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}`;
  expect(res.status, shown).toBeLessThan(500);
  expect(res.status, shown).toBe(status);
  expect(res.headers.get('content-type'), shown).toMatch(/^application\/json/);
  expect(res.body, shown).toEqual({ error: expect.objectContaining({ code: expect.stringMatching(CODE), message: expect.any(String) }) });
  expect(res.body.error.code.length).toBeGreaterThan(0);
  if (code) expect(res.body.error.code, shown).toBe(code);
  expect(res.headers.get('x-request-id')).toBeTruthy();
}

async function productCount(): Promise<number> {
  const res = await shop.request('GET', '/api/catalog/products?limit=500');
  expect(res.status).toBe(200);
  return (res.body as unknown[]).length;
}

async function productSkus(): Promise<string[]> {
  const res = await shop.request('GET', '/api/catalog/products?limit=500');
  return (res.body as Array<{ sku: string }>).map((p) => p.sku);
}

// ---------------------------------------------------------------- write routes

interface WriteRoute {
  path: string;
  /** A body the route would accept, fresh for each case (unique sku / customer). */
  valid(): Body;
  /** Runs the rejected request and proves it stored nothing. */
  rejects(send: () => Promise<HttpResult>, valid: Body): Promise<HttpResult>;
}

const WRITE_ROUTES: Record<string, WriteRoute> = {
  'POST /api/catalog/products': {
    path: '/api/catalog/products',
    valid: () => ({ sku: `sku-${randomUUID()}`, name: 'Bad input probe', priceCents: 100, stock: 5 }),
    async rejects(send, valid) {
      const before = await productCount();
      const res = await send();
      expect(await productCount()).toBe(before);
      expect(await productSkus()).not.toContain(valid.sku);
      return res;
    },
  },
  'POST /api/payments/wallets': {
    path: '/api/payments/wallets',
    valid: () => ({ customerId: `cust-${randomUUID()}`, balanceCents: 5_000 }),
    async rejects(send, valid) {
      const res = await send();
      expectError(await shop.request('GET', `/api/payments/wallets/${valid.customerId as string}`), 404, 'PAYMENTS.WALLET_NOT_FOUND');
      return res;
    },
  },
  'POST /api/orders': {
    path: '/api/orders',
    valid: () => ({ customerId: fixture.customerId, items: [{ productId: fixture.productId, quantity: 1 }] }),
    // Orders can only be read by id; 'no order was stored' is checked once at the
    // end through the stock, the wallet and the shipments they would have moved.
    rejects: (send) => send(),
  },
};
const WRITE_ROUTE_NAMES = Object.keys(WRITE_ROUTES);

async function sendRejected(routeName: string, mutate: Mutation | undefined, headers: Headers | undefined, status: number, code: string) {
  const route = WRITE_ROUTES[routeName]!;
  const valid = route.valid();
  const body = mutate?.(valid);
  const res = await route.rejects(() => shop.request('POST', route.path, body, headers ?? (body === undefined ? {} : JSON_HEADERS)), valid);
  expectError(res, status, code);
  return res;
}

/** Malformed, non-object, missing, mistyped or oversized bodies: the same answer on every write route. */
const BODY_CASES: Array<[string, number, string, Mutation | undefined, Headers | undefined]> = [
  ['truncated JSON', ...MALFORMED, (v) => JSON.stringify(v).slice(0, -7), undefined],
  ['trailing garbage', ...MALFORMED, (v) => `${JSON.stringify(v)}garbage`, undefined],
  ['two JSON documents', ...MALFORMED, (v) => JSON.stringify(v) + JSON.stringify(v), undefined],
  ['a key without a value {"a":}', ...MALFORMED, text('{"a":}'), undefined],
  ['a trailing comma', ...MALFORMED, (v) => JSON.stringify(v).replace(/}$/, ',}'), undefined],
  ['single quotes', ...MALFORMED, text("{'sku': 'x'}"), undefined],
  ['a NaN literal', ...MALFORMED, (v) => JSON.stringify(v).replace(/}$/, ',"n":NaN}'), undefined],
  ['a comment', ...MALFORMED, (v) => `/* hi */${JSON.stringify(v)}`, undefined],
  ['only whitespace', ...MALFORMED, text('   \n '), undefined],
  ['a JSON string', ...MALFORMED, json('hello'), undefined],
  ['a JSON number', ...MALFORMED, json(42), undefined],
  ['JSON null', ...MALFORMED, text('null'), undefined],
  ['JSON true', ...MALFORMED, text('true'), undefined],
  ['an empty JSON array', ...INVALID, json([]), undefined],
  ['an array holding a valid body', ...INVALID, (v) => JSON.stringify([v]), undefined],
  ['an empty object', ...INVALID, json({}), undefined],
  ['a deeply nested value', ...INVALID, text(`{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`), undefined],
  ['nesting as deep as 100kb allows', ...INVALID, text(`{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`), undefined],
  ['a __proto__ key', ...INVALID, (v) => JSON.stringify(v).replace(/^{/, '{"__proto__":{"admin":true},'), undefined],
  ['a constructor key', ...INVALID, set('constructor', { prototype: { admin: true } }), undefined],
  ['no body at all', ...MISSING, undefined, undefined],
  ['an empty body with a JSON content type', ...MISSING, text(''), undefined],
  ['text/plain', ...NOT_JSON, (v) => JSON.stringify(v), { 'content-type': 'text/plain' }],
  ['form-urlencoded', ...NOT_JSON, (v) => new URLSearchParams(v as Record<string, string>).toString(), { 'content-type': 'application/x-www-form-urlencoded' }],
  ['multipart/form-data', ...NOT_JSON, text('--b\r\nContent-Disposition: form-data; name="sku"\r\n\r\nx\r\n--b--\r\n'), { 'content-type': 'multipart/form-data; boundary=b' }],
  ['application/xml', ...NOT_JSON, text('<product><sku>x</sku></product>'), { 'content-type': 'application/xml' }],
  ['a JSON-like vendor type', ...NOT_JSON, (v) => JSON.stringify(v), { 'content-type': 'application/vnd.api+json' }],
  ['a non-UTF charset', 415, 'HTTP.UNSUPPORTED_ENCODING', (v) => JSON.stringify(v), { 'content-type': 'application/json; charset=latin1' }],
  ['an unknown content encoding', 415, 'HTTP.UNSUPPORTED_ENCODING', (v) => JSON.stringify(v), { ...JSON_HEADERS, 'content-encoding': 'compress' }],
  ['gzip declared but not gzip', 400, 'HTTP.BAD_BODY', (v) => JSON.stringify(v), { ...JSON_HEADERS, 'content-encoding': 'gzip' }],
  ['a body above the 100kb limit', 413, 'HTTP.PAYLOAD_TOO_LARGE', (v) => JSON.stringify({ ...v, pad: 'x'.repeat(LIMIT_BYTES) }), undefined],
  ['a huge body above the limit', 413, 'HTTP.PAYLOAD_TOO_LARGE', (v) => JSON.stringify({ ...v, pad: 'x'.repeat(3 * 1024 * 1024) }), undefined],
];

describe('bodies that are not a JSON object', () => {
  const table = WRITE_ROUTE_NAMES.flatMap((route) => BODY_CASES.map(([what, ...rest]) => [route, what, ...rest] as const));
  it.each(table)('%s with %s → %i %s', async (route, _what, status, code, mutate, headers) => {
    await sendRejected(route, mutate, headers, status, code);
  });
});

/** Field by field: wrong types, out of range, unknown fields; every one a 400 HTTP.INVALID_INPUT. */
const FIELD_CASES: Record<string, Array<[string, Mutation]>> = {
  'POST /api/catalog/products': [
    ['sku missing', omit('sku')],
    ['sku null', set('sku', null)],
    ['sku a number', set('sku', 123)],
    ['sku a boolean', set('sku', true)],
    ['sku an array', set('sku', ['a'])],
    ['sku an object', set('sku', { value: 'a' })],
    ['sku empty', set('sku', '')],
    ['sku only spaces', set('sku', '   ')],
    ['sku 65 characters', set('sku', 's'.repeat(65))],
    ['sku 100k characters', set('sku', 's'.repeat(90_000))],
    ['sku with a NUL character', set('sku', `nul-${randomUUID()}\u0000x`)],
    ['name missing', omit('name')],
    ['name a number', set('name', 42)],
    ['name empty', set('name', '')],
    ['name 201 characters', set('name', 'n'.repeat(201))],
    ['name with a NUL character', set('name', 'a\u0000b')],
    ['priceCents missing', omit('priceCents')],
    ['priceCents a string', set('priceCents', '100')],
    ['priceCents a boolean', set('priceCents', true)],
    ['priceCents null', set('priceCents', null)],
    ['priceCents a float', set('priceCents', 1.5)],
    ['priceCents negative', set('priceCents', -1)],
    ['priceCents above the maximum', set('priceCents', 100_000_001)],
    ['priceCents 2^31', set('priceCents', TWO_POW_31)],
    ['priceCents 1e20', literal('priceCents', '1e20')],
    ['priceCents 1e400 (Infinity)', literal('priceCents', '1e400')],
    ['priceCents -1e400 (-Infinity)', literal('priceCents', '-1e400')],
    ['priceCents MAX_SAFE_INTEGER+2', literal('priceCents', MAX_SAFE_PLUS_2)],
    ['stock missing', omit('stock')],
    ['stock a string', set('stock', '5')],
    ['stock a boolean', set('stock', false)],
    ['stock a float', set('stock', 0.5)],
    ['stock negative', set('stock', -1)],
    ['stock above the maximum', set('stock', 1_000_001)],
    ['stock 2^31', set('stock', TWO_POW_31)],
    ['stock 1e20', literal('stock', '1e20')],
    ['stock 1e400 (Infinity)', literal('stock', '1e400')],
    ['stock MAX_SAFE_INTEGER+2', literal('stock', MAX_SAFE_PLUS_2)],
    ['an unknown field', set('color', 'red')],
    ['a client-chosen id', set('id', randomUUID())],
  ],
  'POST /api/payments/wallets': [
    ['customerId missing', omit('customerId')],
    ['customerId null', set('customerId', null)],
    ['customerId a number', set('customerId', 123)],
    ['customerId a boolean', set('customerId', true)],
    ['customerId empty', set('customerId', '')],
    ['customerId only spaces', set('customerId', '   ')],
    ['customerId 65 characters', set('customerId', 'c'.repeat(65))],
    ['customerId 90k characters', set('customerId', 'c'.repeat(90_000))],
    ['customerId with a space', set('customerId', 'has space')],
    ['customerId with a slash', set('customerId', 'a/b')],
    ['customerId with a NUL character', set('customerId', 'a\u0000b')],
    ['customerId not ASCII', set('customerId', 'café')],
    ['balanceCents missing', omit('balanceCents')],
    ['balanceCents a string', set('balanceCents', '5000')],
    ['balanceCents a boolean', set('balanceCents', true)],
    ['balanceCents null', set('balanceCents', null)],
    ['balanceCents a float', set('balanceCents', 10.25)],
    ['balanceCents negative', set('balanceCents', -1)],
    ['balanceCents above the maximum', set('balanceCents', 1_000_000_000_001)],
    ['balanceCents 1e20', literal('balanceCents', '1e20')],
    ['balanceCents 1e400 (Infinity)', literal('balanceCents', '1e400')],
    ['balanceCents MAX_SAFE_INTEGER+2', literal('balanceCents', MAX_SAFE_PLUS_2)],
    ['an unknown field', set('currency', 'EUR')],
  ],
  'POST /api/orders': [
    ['customerId missing', omit('customerId')],
    ['customerId a number', set('customerId', 7)],
    ['customerId empty', set('customerId', '')],
    ['customerId 65 characters', set('customerId', 'c'.repeat(65))],
    ['customerId with bad characters', set('customerId', 'bad id!')],
    ['items missing', omit('items')],
    ['items null', set('items', null)],
    ['items an object', set('items', { productId: randomUUID(), quantity: 1 })],
    ['items a string', set('items', 'all of them')],
    ['items empty', set('items', [])],
    ['101 items (too many)', (v) => JSON.stringify({ ...v, items: Array.from({ length: 101 }, () => firstItem(v)) })],
    ['an item that is a string', set('items', ['x'])],
    ['an item that is null', set('items', [null])],
    ['an item that is an array', set('items', [[1]])],
    ['quantity missing', omitItem('quantity')],
    ['quantity zero', setItem('quantity', 0)],
    ['quantity negative', setItem('quantity', -1)],
    ['quantity a float', setItem('quantity', 1.5)],
    ['quantity a string', setItem('quantity', '1')],
    ['quantity a boolean', setItem('quantity', true)],
    ['quantity null', setItem('quantity', null)],
    ['quantity above the maximum', setItem('quantity', 1_001)],
    ['quantity 2^31', setItem('quantity', TWO_POW_31)],
    ['quantity 1e20', itemLiteral('quantity', '1e20')],
    ['quantity 1e400 (Infinity)', itemLiteral('quantity', '1e400')],
    ['quantity MAX_SAFE_INTEGER+2', itemLiteral('quantity', MAX_SAFE_PLUS_2)],
    ['productId missing', omitItem('productId')],
    ['productId not a UUID', setItem('productId', 'not-a-uuid')],
    ['productId empty', setItem('productId', '')],
    ['productId a number', setItem('productId', 12345)],
    ['productId a UUID with trailing junk', (v) => setItem('productId', `${firstItem(v).productId as string}x`)(v)],
    ['an unknown item field', setItem('unitPriceCents', 1)],
    ['an unknown top-level field', set('totalCents', 0)],
    ['a client-chosen status', set('status', 'confirmed')],
  ],
};

describe('fields of the wrong type, out of range or unknown', () => {
  const table = WRITE_ROUTE_NAMES.flatMap((route) => FIELD_CASES[route]!.map(([what, mutate]) => [route, what, mutate] as const));
  it.each(table)('%s with %s → 400', async (route, _what, mutate) => {
    const res = await sendRejected(route, mutate, undefined, ...INVALID);
    expect(res.body.error.details, 'the issues are listed').toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.any(String), message: expect.any(String) })]));
  });
});

describe('well-formed input that conflicts or refers to nothing', () => {
  it('a duplicate sku is a 409 and changes nothing', async () => {
    const sku = `dup-${randomUUID()}`;
    const first = await shop.request('POST', '/api/catalog/products', { sku, name: 'Original', priceCents: 100, stock: 3 });
    expect(first.status).toBe(201);
    for (const again of [sku, `  ${sku}  `]) {
      const before = await productCount();
      const res = await shop.request('POST', '/api/catalog/products', { sku: again, name: 'Impostor', priceCents: 1, stock: 999 });
      expectError(res, 409, 'CATALOG.DUPLICATE_SKU');
      expect(await productCount()).toBe(before);
    }
    expect(await shop.getProduct(first.body.id)).toEqual({ id: first.body.id, sku, name: 'Original', priceCents: 100, stock: 3 });
  });

  it('a duplicate wallet is a 409 and keeps the balance', async () => {
    const wallet = await shop.createWallet(700);
    for (const again of [wallet.customerId, ` ${wallet.customerId} `]) {
      expectError(await shop.request('POST', '/api/payments/wallets', { customerId: again, balanceCents: 1_000_000 }), 409, 'PAYMENTS.WALLET_EXISTS');
    }
    expect(await shop.getWallet(wallet.customerId)).toEqual({ customerId: wallet.customerId, balanceCents: 700 });
  });

  it.each([
    ['one unknown product', () => [{ productId: randomUUID(), quantity: 1 }]],
    ['a known and an unknown product', () => [{ productId: fixture.productId, quantity: 1 }, { productId: randomUUID(), quantity: 1 }]],
    ['the nil UUID', () => [{ productId: '00000000-0000-0000-0000-000000000000', quantity: 1 }]],
  ])('an order for %s is a 422', async (_what, items) => {
    const res = await shop.placeOrder(fixture.customerId, items());
    expectError(res, 422, 'CATALOG.UNKNOWN_PRODUCT');
  });
});

// ---------------------------------------------------------------- paths and queries

const uuid = randomUUID();
const PATH_CASES: Array<[string, string, number, string]> = [
  // GET /api/catalog/products/:id
  ['GET', '/api/catalog/products/not-a-uuid', ...INVALID],
  ['GET', '/api/catalog/products/123', ...INVALID],
  ['GET', `/api/catalog/products/${uuid}x`, ...INVALID],
  ['GET', `/api/catalog/products/${uuid.slice(0, -1)}`, ...INVALID],
  ['GET', `/api/catalog/products/${uuid.replaceAll('-', '')}`, ...INVALID],
  ['GET', `/api/catalog/products/${'a'.repeat(4_000)}`, ...INVALID],
  ['GET', '/api/catalog/products/%00', ...INVALID],
  ['GET', '/api/catalog/products/%20', ...INVALID],
  ['GET', "/api/catalog/products/'%20OR%201=1--", ...INVALID],
  ['GET', '/api/catalog/products/%E0%A4%A', 400, 'HTTP.MALFORMED_URL'],
  ['GET', '/api/catalog/products/%zz', 400, 'HTTP.MALFORMED_URL'],
  ['GET', `/api/catalog/products/${randomUUID()}`, 404, 'CATALOG.PRODUCT_NOT_FOUND'],
  ['GET', `/api/catalog/products/${randomUUID().toUpperCase()}`, 404, 'CATALOG.PRODUCT_NOT_FOUND'],
  ['GET', '/api/catalog/products/00000000-0000-0000-0000-000000000000', 404, 'CATALOG.PRODUCT_NOT_FOUND'],
  // GET /api/catalog/products?limit=
  ['GET', '/api/catalog/products?limit=abc', ...INVALID],
  ['GET', '/api/catalog/products?limit=', ...INVALID],
  ['GET', '/api/catalog/products?limit=0', ...INVALID],
  ['GET', '/api/catalog/products?limit=-1', ...INVALID],
  ['GET', '/api/catalog/products?limit=1.5', ...INVALID],
  ['GET', '/api/catalog/products?limit=501', ...INVALID],
  ['GET', '/api/catalog/products?limit=2147483648', ...INVALID],
  ['GET', '/api/catalog/products?limit=1e20', ...INVALID],
  ['GET', '/api/catalog/products?limit=1e400', ...INVALID],
  ['GET', `/api/catalog/products?limit=${MAX_SAFE_PLUS_2}`, ...INVALID],
  ['GET', '/api/catalog/products?limit=Infinity', ...INVALID],
  ['GET', '/api/catalog/products?limit=NaN', ...INVALID],
  ['GET', '/api/catalog/products?limit=true', ...INVALID],
  ['GET', '/api/catalog/products?limit=%zz', ...INVALID],
  ['GET', '/api/catalog/products?limit=1&limit=2', ...INVALID],
  ['GET', '/api/catalog/products?limit[]=1', ...INVALID],
  ['GET', '/api/catalog/products?limit[gt]=1', ...INVALID],
  ['GET', '/api/catalog/products?offset=10', ...INVALID],
  // GET /api/payments/wallets/:customerId
  ['GET', `/api/payments/wallets/${'c'.repeat(65)}`, ...INVALID],
  ['GET', '/api/payments/wallets/has%20space', ...INVALID],
  ['GET', '/api/payments/wallets/%20%20', ...INVALID],
  ['GET', '/api/payments/wallets/a%2Fb', ...INVALID],
  ['GET', '/api/payments/wallets/a%00b', ...INVALID],
  ['GET', '/api/payments/wallets/caf%C3%A9', ...INVALID],
  ['GET', '/api/payments/wallets/%zz', 400, 'HTTP.MALFORMED_URL'],
  ['GET', `/api/payments/wallets/cust-${randomUUID()}`, 404, 'PAYMENTS.WALLET_NOT_FOUND'],
  // GET /api/orders/:id
  ['GET', '/api/orders/not-a-uuid', ...INVALID],
  ['GET', '/api/orders/1', ...INVALID],
  ['GET', `/api/orders/${uuid}x`, ...INVALID],
  ['GET', '/api/orders/%00', ...INVALID],
  ['GET', '/api/orders/%zz', 400, 'HTTP.MALFORMED_URL'],
  ['GET', `/api/orders/${randomUUID()}`, 404, 'ORDERS.NOT_FOUND'],
  ['GET', '/api/orders/00000000-0000-0000-0000-000000000000', 404, 'ORDERS.NOT_FOUND'],
  // GET /api/shipping/shipments?orderId=
  ['GET', '/api/shipping/shipments?orderId=abc', ...INVALID],
  ['GET', '/api/shipping/shipments?orderId=', ...INVALID],
  ['GET', '/api/shipping/shipments?orderId=1', ...INVALID],
  ['GET', `/api/shipping/shipments?orderId=${uuid}x`, ...INVALID],
  ['GET', `/api/shipping/shipments?orderId=${uuid}&orderId=${randomUUID()}`, ...INVALID],
  ['GET', `/api/shipping/shipments?orderId[]=${uuid}`, ...INVALID],
  ['GET', '/api/shipping/shipments?orderId=%zz', ...INVALID],
  ['GET', '/api/shipping/shipments?status=preparing', ...INVALID],
  ['GET', '/api/shipping/shipments?limit=0', ...INVALID],
  ['GET', '/api/shipping/shipments?limit=abc', ...INVALID],
  ['GET', '/api/shipping/shipments?limit=1e400', ...INVALID],
  // Listing orders needs a customer
  ['GET', '/api/orders', ...INVALID],
  ['GET', '/api/orders?customerId=', ...INVALID],
  ['GET', '/api/orders?customerId=a%20b', ...INVALID],
  ['GET', '/api/orders?customerId=c1&limit=0', ...INVALID],
  ['GET', '/api/orders?customerId=c1&extra=1', ...INVALID],
  // Unknown routes
  ['GET', '/nope', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/api', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/api/nope', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/api/catalog', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/api/catalog/nope', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['POST', '/api/catalog/nope', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', `/api/catalog/products/${uuid}/`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', `/api/catalog/products/${uuid}/stock`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', `/api/shipping/shipments/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/api/payments/wallets', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['GET', '/%zz', 404, 'HTTP.ROUTE_NOT_FOUND'],
  // Wrong method on a known path
  ['DELETE', '/api/catalog/products', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['PUT', `/api/catalog/products/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['PATCH', `/api/catalog/products/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['POST', `/api/catalog/products/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['DELETE', `/api/catalog/products/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['PUT', '/api/orders', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['DELETE', `/api/orders/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['POST', `/api/orders/${uuid}`, 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['PUT', '/api/payments/wallets/someone', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['DELETE', '/api/payments/wallets/someone', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['POST', '/api/shipping/shipments', 404, 'HTTP.ROUTE_NOT_FOUND'],
  ['POST', '/health', 404, 'HTTP.ROUTE_NOT_FOUND'],
];

describe('bad paths and queries', () => {
  it.each(PATH_CASES)('%s %s → %i %s', async (method, path, status, code) => {
    expectError(await shop.request(method, path), status, code);
  });

  it('a JSON body sent to an unknown route or wrong method is a 404, not read', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(2 * LIMIT_BYTES) });
    expectError(await shop.request('POST', '/api/catalog/nope', big), 404, 'HTTP.ROUTE_NOT_FOUND');
    expectError(await shop.request('PUT', '/api/payments/wallets', big), 404, 'HTTP.ROUTE_NOT_FOUND');
  });
});

describe('edge values that are valid are accepted, not 5xx', () => {
  it.each([
    ['the largest price and stock', { priceCents: 100_000_000, stock: 1_000_000 }],
    ['a free product out of stock', { priceCents: 0, stock: 0 }],
  ])('a product with %s is created', async (_what, numbers) => {
    const sku = `edge-${randomUUID()}`;
    const res = await shop.request('POST', '/api/catalog/products', { sku, name: 'Edge', ...numbers });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(await shop.getProduct(res.body.id)).toMatchObject({ sku, ...numbers });
  });

  it.each([
    ['zero', 0],
    ['2^31', TWO_POW_31],
    ['the maximum', 1_000_000_000_000],
  ])('a wallet with a balance of %s is created', async (_what, balanceCents) => {
    const wallet = await shop.createWallet(balanceCents);
    expect(await shop.getWallet(wallet.customerId)).toEqual({ customerId: wallet.customerId, balanceCents });
  });

  it.each(['1', '500', '%2010'])('a product list with limit=%s is a 200 list', async (limit) => {
    const res = await shop.request('GET', `/api/catalog/products?limit=${limit}`);
    expect(res.status).toBe(200);
    expect(Array.isArray(res.body)).toBe(true);
  });

  it('shipments of an unknown order are an empty list', async () => {
    expect(await shop.shipmentsOf(randomUUID())).toEqual([]);
  });
});

// ---------------------------------------------------------------- request ids and 500s

describe('request ids', () => {
  it.each([
    ['a success', 'GET', '/api/catalog/products?limit=1', undefined, 200],
    ['a validation error', 'GET', '/api/orders/not-a-uuid', undefined, 400],
    ['malformed JSON', 'POST', '/api/catalog/products', '{"a":}', 400],
    ['a too large body', 'POST', '/api/catalog/products', JSON.stringify({ pad: 'x'.repeat(LIMIT_BYTES) }), 413],
    ['an unknown route', 'GET', '/api/nope', undefined, 404],
    ['a malformed path (failing before any route)', 'GET', '/api/catalog/products/%E0%A4%A', undefined, 400],
    ['the health check', 'GET', '/health', undefined, 200],
    ['the metrics', 'GET', '/metrics', undefined, 200],
    ['a HEAD request', 'HEAD', '/api/catalog/products?limit=1', undefined, 200],
    ['a method no route takes', 'DELETE', '/api/catalog/products', undefined, 404],
  ])('every answer carries one, also %s', async (_what, method, path, body, status) => {
    const res = await shop.request(method, path, body);
    expect(res.status).toBe(status);
    expect(res.headers.get('x-request-id')).toMatch(/^[\w.:-]{1,128}$/);

    const given = `req-${randomUUID()}`;
    const echoed = await shop.request(method, path, body, { 'x-request-id': given });
    expect(echoed.status).toBe(status);
    expect(echoed.headers.get('x-request-id')).toBe(given);
  });

  it.each([
    ['spaces', 'has spaces'],
    ['a header injection attempt', 'abc%0d%0aSet-Cookie:x=1'],
    ['more than 128 characters', 'r'.repeat(129)],
  ])('a given id with %s is replaced, not echoed', async (_what, given) => {
    const res = await shop.request('GET', '/api/orders/not-a-uuid', undefined, { 'x-request-id': given });
    expectError(res, 400, 'HTTP.INVALID_INPUT');
    expect(res.headers.get('x-request-id')).not.toBe(given);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('set-cookie')).toBeNull();
  });
});

describe('a 500 never leaks internals', () => {
  // The public API offers no way to fail on purpose, so the kernel's error
  // handler is mounted on a bare Express app with routes that do.
  let server: ReturnType<typeof express.application.listen>;
  let baseUrl: string;
  const SECRET = 'password=hunter2 at /srv/secret/db.ts:42';

  beforeAll(async () => {
    const app = express();
    app.get('/throws', () => {
      throw new Error(SECRET);
    });
    app.get('/rejects', async () => {
      await Promise.resolve();
      throw Object.assign(new TypeError(SECRET), { code: 'ECONNREFUSED', detail: SECRET });
    });
    app.get('/throws-string', () => {
      throw SECRET;
    });
    app.get('/internal-app-error', () => {
      throw new AppError('INTERNAL', 'KERNEL.INTERNAL', 'internal error', { details: SECRET, cause: new Error(SECRET) });
    });
    app.get('/http-error-500', () => {
      throw Object.assign(new Error(SECRET), { status: 500, statusCode: 500, expose: false });
    });
    app.get('/rejects-null', () => Promise.reject(null));
    app.get('/client-error/:status', (req) => {
      const status = Number(req.params.status);
      throw Object.assign(new Error(req.query.expose ? 'exposed reason' : SECRET), { status, expose: Boolean(req.query.expose) });
    });
    const recorder = responseRecorder({ logger: createLogger('silent'), metrics: createMetrics() });
    app.use(notFoundHandler(recorder));
    app.use(errorHandler(createLogger('silent'), recorder));
    await new Promise<void>((ready) => {
      server = app.listen(0, '127.0.0.1', () => ready());
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((done) => server?.close(done));
  });

  it.each(['/throws', '/rejects', '/throws-string', '/internal-app-error', '/http-error-500', '/rejects-null'])('GET %s is a bare 500 KERNEL.INTERNAL', async (path) => {
    const res = await fetch(`${baseUrl}${path}`);
    const raw = await res.text();
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(raw)).toEqual({ error: { code: 'KERNEL.INTERNAL', message: 'internal error' } });
    expect(raw).not.toMatch(/hunter2|secret|stack|\.ts:|ECONNREFUSED/i);
  });

  // Errors of libraries (Express, body-parser) that carry a 4xx status are client errors, by the kinds' table.
  it.each([
    ['/client-error/400?expose=1', 400, 'HTTP.BAD_REQUEST', 'exposed reason'],
    ['/client-error/404', 404, 'HTTP.NOT_FOUND', 'request rejected'],
    ['/client-error/413?expose=1', 413, 'HTTP.PAYLOAD_TOO_LARGE', 'exposed reason'],
    ['/client-error/418', 400, 'HTTP.BAD_REQUEST', 'request rejected'],
  ])('GET %s is a %i %s', async (path, status, code, message) => {
    const res = await fetch(`${baseUrl}${path}`);
    const raw = await res.text();
    expect(res.status).toBe(status);
    expect(JSON.parse(raw)).toEqual({ error: { code, message } });
    expect(raw).not.toMatch(/hunter2|secret/i);
  });
});

// ---------------------------------------------------------------- nothing was written

describe('rejected orders left no trace', () => {
  it('stock, wallet and shipments are untouched, and a valid order still goes through', async () => {
    // Had a rejected order been stored, the saga would have reserved, debited and shipped it.
    expect((await shop.getProduct(fixture.productId)).stock).toBe(fixture.stock);
    expect((await shop.getWallet(fixture.customerId)).balanceCents).toBe(fixture.balanceCents);
    const all = await shop.request('GET', '/api/shipping/shipments?limit=500');
    expect(all.body).toEqual([]);

    // Control: the same checks do see an order that was accepted (and let any stray one settle first).
    const placed = await shop.placeOrder(fixture.customerId, [{ productId: fixture.productId, quantity: 1 }]);
    expect(placed.status, JSON.stringify(placed.body)).toBe(202);
    const [order] = await shop.waitSettled([placed.body.id]);
    expect(order!.status).toBe('confirmed');
    expect((await shop.getProduct(fixture.productId)).stock).toBe(fixture.stock - 1);
    expect((await shop.getWallet(fixture.customerId)).balanceCents).toBe(fixture.balanceCents - fixture.priceCents);
    const after = await shop.request('GET', '/api/shipping/shipments?limit=500');
    expect(after.body).toEqual([{ id: expect.any(String), orderId: placed.body.id, status: 'preparing' }]);
  });
});
