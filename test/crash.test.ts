import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { expectInvariants } from './support/invariants.js';
import { expectSurvivesKillMidBurst } from './support/kill-mid-burst.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';

interface Storage {
  name: string;
  env: () => Record<string, string>;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

let dataDir = '';
let database: TestDatabase | undefined;

const storages: Storage[] = [
  {
    name: 'PGlite (data folder)',
    env: () => ({ DATA_DIR: dataDir }),
    async setUp() {
      dataDir = await mkdtemp(join(tmpdir(), 'mmk-crash-'));
    },
    async tearDown() {
      await rm(dataDir, { recursive: true, force: true });
    },
  },
  {
    name: 'PostgreSQL',
    // A short lease: the restarted process takes over the dead one's claims sooner.
    env: () => ({ DATABASE_URL: database!.url, EVENT_CLAIM_LEASE_MS: '2000' }),
    async setUp() {
      database = await createTestDatabase('mmk_crash');
    },
    async tearDown() {
      await database?.drop();
    },
  },
];

describe.each(storages)('crash safety on $name', (storage) => {
  let child: ChildApp | undefined;
  beforeAll(() => storage.setUp());
  afterAll(async () => {
    await child?.kill('SIGKILL');
    await storage.tearDown();
  });

  it('orders accepted before a SIGKILL, their events not yet handled, all settle after restart', async () => {
    // The first process serves HTTP only, so every event is still in an outbox when it dies.
    child = await startChildApp({ ...storage.env(), EVENT_RELAY: 'off' });
    let shop = new ShopClient(child.url);
    const product = await shop.createProduct(6, 500);
    const wallets = await Promise.all([shop.createWallet(2_000), shop.createWallet(100_000)]);
    const placed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => shop.placeOrder(wallets[i % 2]!.customerId, [{ productId: product.id, quantity: 1 }])),
    );
    expect(placed.every((p) => p.status === 202)).toBe(true);
    expect((await shop.getOrder(placed[0]!.body.id)).status).toBe('pending');
    expect(await child.kill('SIGKILL')).toBeNull();

    child = await startChildApp(storage.env());
    shop = new ShopClient(child.url);
    await expectInvariants(shop, {
      products: [{ id: product.id, initialStock: 6 }],
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds: placed.map((p) => p.body.id),
    });
    const orders = await shop.waitSettled(placed.map((p) => p.body.id));
    expect(orders.filter((o) => o.status === 'confirmed').length).toBeGreaterThan(0);
    await child.kill('SIGKILL');
  });

  it('a SIGKILL in the middle of a burst, with events in flight, loses nothing and doubles nothing', async () => {
    await expectSurvivesKillMidBurst({ env: storage.env(), stock: 20, orders: 40, killAfter: 15, onChild: (c) => (child = c) });
  });
});
