import type { Knex, ModuleDb } from '../../../kernel/index.js';
import type { Product } from '../catalog.contract.js';

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  price_cents: number;
  stock: number;
}

const COLUMNS = ['id', 'sku', 'name', 'price_cents', 'stock'];

export function toProduct(row: ProductRow): Product {
  return { id: row.id, sku: row.sku, name: row.name, priceCents: Number(row.price_cents), stock: Number(row.stock) };
}

const SELECT_BY_ID = `select ${COLUMNS.join(', ')} from products where id = $1`;

/** The hot read of the shop (GET /api/catalog/products/:id): plain SQL, no query builder. */
export async function findProduct(db: ModuleDb, id: string): Promise<Product | null> {
  const [row] = await db.query<ProductRow>(SELECT_BY_ID, [id]);
  return row ? toProduct(row) : null;
}

export async function findProducts(k: Knex, ids: readonly string[]): Promise<Product[]> {
  const rows = await k('products').select<ProductRow[]>(COLUMNS).whereIn('id', ids);
  return rows.map(toProduct);
}

export async function listProducts(k: Knex, limit: number): Promise<Product[]> {
  const rows = await k('products').select<ProductRow[]>(COLUMNS).orderBy('created_at').orderBy('id').limit(limit);
  return rows.map(toProduct);
}

export async function insertProduct(k: Knex, product: Product): Promise<boolean> {
  const inserted = await k('products')
    .insert({ id: product.id, sku: product.sku, name: product.name, price_cents: product.priceCents, stock: product.stock })
    .onConflict('sku')
    .ignore()
    .returning('id');
  return inserted.length === 1;
}
