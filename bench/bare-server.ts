/**
 * The baseline of `npm run bench:http`: bare Express 5 and a `pg` Pool, one
 * route, the same query and JSON shape as the kit's GET /api/catalog/products/:id.
 * Run as a child process by http-bench.ts; reports its port over IPC.
 *
 * Env: BENCH_DB_URL (required), BENCH_POOL_MAX (default 5, the kit's DATABASE_POOL_MAX default).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pg from 'pg';
import { serveBenchChild } from './bench-child.js';

const url = process.env.BENCH_DB_URL;
if (!url) throw new Error('BENCH_DB_URL is required');
const max = Number(process.env.BENCH_POOL_MAX ?? '5');

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
}

const pool = new pg.Pool({ connectionString: url, max });
const app = express();
// The kit turns these two off as well; matching them keeps the baseline from
// paying for an ETag hash the kit does not compute.
app.disable('x-powered-by');
app.set('etag', false);

app.get('/api/catalog/products/:id', async (req, res) => {
  const { rows } = await pool.query<ProductRow>(
    'select id, sku, name, price_cents, stock from catalog.products where id = $1',
    [req.params.id],
  );
  const row = rows[0];
  if (!row) {
    res.status(404).json({ error: 'not found' });
    return;
  }
  res.json({ id: row.id, sku: row.sku, name: row.name, priceCents: row.price_cents, stock: row.stock });
});

const server = createServer(app);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', port });
});

serveBenchChild(async () => {
  await new Promise<void>((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
  await pool.end();
});
