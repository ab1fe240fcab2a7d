import { randomUUID } from 'node:crypto';
import { AppError, type ModuleDb } from '../../../kernel/index.js';
import type { CatalogApi, Product } from '../catalog.contract.js';
import { findProduct, findProducts, insertProduct, listProducts } from './product-repository.js';

export interface NewProduct {
  sku: string;
  name: string;
  priceCents: number;
  stock: number;
}

export interface CatalogService extends CatalogApi {
  createProduct(input: NewProduct): Promise<Product>;
  listProducts(limit: number): Promise<Product[]>;
}

export function createCatalogService(db: ModuleDb): CatalogService {
  return {
    getProduct({ id }) {
      return findProduct(db, id);
    },
    async listProducts(limit) {
      return db.read((k) => listProducts(k, limit));
    },
    async createProduct(input) {
      const product = { id: randomUUID(), ...input };
      const created = await db.read((k) => insertProduct(k, product));
      if (!created) throw new AppError('CONFLICT', 'CATALOG.DUPLICATE_SKU', `a product with sku "${input.sku}" already exists`);
      return product;
    },
    async priceItems({ items }) {
      const products = new Map((await db.read((k) => findProducts(k, items.map((i) => i.productId)))).map((p) => [p.id, p]));
      const unknown = items.map((i) => i.productId).filter((id) => !products.has(id));
      if (unknown.length > 0) {
        throw new AppError('UNPROCESSABLE', 'CATALOG.UNKNOWN_PRODUCT', `unknown product ${unknown.join(', ')}`, { details: { productIds: unknown } });
      }
      const priced = items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: products.get(i.productId)!.priceCents }));
      return { items: priced, totalCents: priced.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0) };
    },
  };
}
