/**
 * The baseline of part 3 of `npm run bench:remote`: a bare `node:http` server
 * with a `pg` Pool that answers `POST /internal/catalog/getProduct` as the
 * kit's internal endpoint does, with the same work on the data: it reads the
 * body, `JSON.parse`s it, runs the same SQL as catalog's `getProduct`
 * (`select id, sku, name, price_cents, stock from catalog.products where id = $1`)
 * and answers the same JSON (`{ id, sku, name, priceCents, stock }`, or `null`)
 * with the same content type, echoing `x-request-id` as the kit does. What it
 * does not do (the kit's share of the comparison): no token check, no zod
 * validation of the input, no metrics, no request id of its own.
 *
 * Run as a child process by remote-bench.ts; prints `{"msg":"started","port":N}`
 * on stdout once it listens (the kit's start line, so the bench waits for both alike).
 *
 * Env: BENCH_DB_URL (required), BENCH_POOL_MAX (default 5), BENCH_PORT (default 0: any free port).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { serveBenchChild } from './bench-child.js';

const url = process.env.BENCH_DB_URL;
if (!url) throw new Error('BENCH_DB_URL is required');
const max = Number(process.env.BENCH_POOL_MAX ?? '5');
const port = Number(process.env.BENCH_PORT ?? '0');

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
}

const pool = new pg.Pool({ connectionString: url, max });
const CONTENT_TYPE = 'application/json; charset=utf-8';

function answer(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', CONTENT_TYPE);
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

const server = createServer((req, res) => {
  const requestId = req.headers['x-request-id'];
  if (typeof requestId === 'string') res.setHeader('x-request-id', requestId);
  if (req.method !== 'POST' || req.url !== '/internal/catalog/getProduct') {
    answer(res, 404, { error: 'not found' });
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.once('end', () => {
    let input: { id?: unknown };
    try {
      input = JSON.parse((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')) as { id?: unknown };
    } catch {
      answer(res, 400, { error: 'malformed JSON' });
      return;
    }
    if (typeof input?.id !== 'string') {
      answer(res, 400, { error: 'invalid input' });
      return;
    }
    pool.query<ProductRow>('select id, sku, name, price_cents, stock from catalog.products where id = $1', [input.id]).then(
      ({ rows }) => {
        const row = rows[0];
        answer(res, 200, row ? { id: row.id, sku: row.sku, name: row.name, priceCents: row.price_cents, stock: row.stock } : null);
      },
      () => answer(res, 500, { error: 'query failed' }),
    );
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(JSON.stringify({ msg: 'started', port: (server.address() as AddressInfo).port }));
});

serveBenchChild(async () => {
  await new Promise<void>((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
  await pool.end();
});
