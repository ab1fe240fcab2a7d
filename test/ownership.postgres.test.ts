import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTopology, type RunningShop } from './support/topologies.js';

describe('data ownership enforced by PostgreSQL', () => {
  let running: RunningShop;
  beforeAll(async () => {
    running = await postgresTopology().start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it("runs each module's queries as its own role", async () => {
    const catalog = running.app.database.forModule('catalog');
    const { rows } = await catalog.read((k) => k.raw('select current_user as role'));
    expect(rows[0].role).toBe('mmk_module_catalog');
    expect(running.app.database.ownership).toBe('roles');
  });

  it.each([
    ['catalog reads orders', 'catalog', 'select * from orders.orders', /permission denied for schema orders/],
    ['catalog writes payments', 'catalog', "update payments.wallets set balance_cents = 0 where customer_id = 'x'", /permission denied for schema payments/],
    ['shipping reads the orders outbox', 'shipping', 'select * from orders.outbox', /permission denied for schema orders/],
    ['payments reads the catalog inbox', 'payments', 'select * from catalog.inbox', /permission denied for schema catalog/],
  ])('%s: permission denied', async (_name, module, sql, error) => {
    await expect(running.app.database.forModule(module).read((k) => k.raw(sql))).rejects.toThrow(error);
  });

  it('a module still has every right it needs on its own schema, and the saga works', async () => {
    const { shop } = running;
    const product = await shop.createProduct(2, 500);
    const wallet = await shop.createWallet(1_000);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    const [order] = await shop.waitSettled([placed.body.id]);
    expect(order!.status).toBe('confirmed');
    await expect.poll(async () => (await shop.shipmentsOf(order!.id)).length, { timeout: 10_000 }).toBe(1);
    const own = await running.app.database.forModule('catalog').read((k) => k('products').where({ id: product.id }).first());
    expect(own.stock).toBe(1);
  });
});

describe('with DATABASE_MODULE_ROLES=off', () => {
  let running: RunningShop;
  beforeAll(async () => {
    running = await postgresTopology({}, 'PostgreSQL without module roles', { DATABASE_MODULE_ROLES: 'off' }).start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('only the search path separates modules: a qualified cross-schema query works', async () => {
    expect(running.app.database.ownership).toBe('search-path');
    const { rows } = await running.app.database.forModule('catalog').read((k) => k.raw('select count(*)::int as n from orders.orders'));
    expect(rows[0].n).toBe(0);
  });
});
