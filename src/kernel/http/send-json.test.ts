import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson } from './send-json.js';

let server: Server;
let port: number;

/**
 * GET/HEAD `/<status>` answers `sendJson(res, status, BODY)`; `/undefined` sends no
 * body value; what `sendJson` throws is answered as a 500 with its message.
 */
const BODY = { name: 'Tasse à café ☕', priceCents: 1250, tags: ['a', null] };

beforeAll(async () => {
  server = createServer((req, res) => {
    const [, what] = req.url!.split('/');
    try {
      if (what === 'undefined') sendJson(res, 200, undefined);
      else sendJson(res, Number(what), BODY);
    } catch (error) {
      res.statusCode = 500;
      res.end((error as Error).message);
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((done) => server.close(() => done())));

function call(method: string, path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sendJson', () => {
  it('writes the JSON text with its status, type and byte length', async () => {
    const res = await call('GET', '/201');
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.raw.toString('utf8'))).toEqual(BODY);
    expect(Number(res.headers['content-length'])).toBe(res.raw.length);
    expect(res.raw.length).toBeGreaterThan(JSON.stringify(BODY).length); // multi-byte characters counted as bytes
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await call('HEAD', '/200');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(BODY)));
    expect(res.raw.length).toBe(0);
  });

  it.each([204, 304])('sends neither body nor content headers with %i', async (status) => {
    const res = await call('GET', `/${status}`);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBeUndefined();
    expect(res.raw.length).toBe(0);
  });

  it('sends an empty body with 205', async () => {
    const res = await call('GET', '/205');
    expect(res.status).toBe(205);
    expect(res.headers['content-length']).toBe('0');
    expect(res.raw.length).toBe(0);
  });

  it('sends an empty body for undefined, as Express does', async () => {
    const res = await call('GET', '/undefined');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('0');
    expect(res.raw.length).toBe(0);
  });

  it('refuses a status Node cannot write, before anything is set', async () => {
    const res = await call('GET', '/42');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBeUndefined();
    expect(res.raw.toString('utf8')).toBe('invalid HTTP status 42');
  });
});
