import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHOP_MODULES } from '../src/app.js';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { pgliteLedger, postgresLedger, type EventLedger } from './support/event-ledger.js';
import { expectInvariants } from './support/invariants.js';
import { expectSurvivesKillMidBurst } from './support/kill-mid-burst.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';

interface Storage {
  name: string;
  env: () => Record<string, string>;
  /** The ledger of the data, given the processes still running (a PGlite ledger stops them first). */
  ledger: (running: () => readonly ChildApp[]) => EventLedger;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

let dataDir = '';
let database: TestDatabase | undefined;

const urls = (running: () => readonly ChildApp[]) => () => running().map((c) => c.url);

const storages: Storage[] = [
  {
    name: 'PGlite (data folder)',
    env: () => ({ DATA_DIR: dataDir }),
    ledger: (running) =>
      pgliteLedger(dataDir, SHOP_MODULES, {
        urls: urls(running),
        release: async () => {
          for (const child of running()) expect(await child.kill('SIGTERM')).toBe(0);
        },
      }),
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
    ledger: (running) => postgresLedger(database!.url, SHOP_MODULES, urls(running)),
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
    // Outcomes that do not depend on the order in which the events are handled:
    // 8 orders of a rich customer for 6 units (6 confirmed, 2 out of stock), and
    // 4 orders of a customer who can pay 2, for a product with plenty of units.
    const scarce = await shop.createProduct(6, 500);
    const plenty = await shop.createProduct(100, 500);
    const rich = await shop.createWallet(100_000);
    const poor = await shop.createWallet(1_000);
    const placed = await Promise.all([
      ...Array.from({ length: 8 }, () => shop.placeOrder(rich.customerId, [{ productId: scarce.id, quantity: 1 }])),
      ...Array.from({ length: 4 }, () => shop.placeOrder(poor.customerId, [{ productId: plenty.id, quantity: 1 }])),
    ]);
    expect(placed.map((p) => p.status)).toEqual(Array(12).fill(202));
    expect((await shop.getOrder(placed[0]!.body.id)).status).toBe('pending');
    expect(await child.kill('SIGKILL')).toBeNull();

    child = await startChildApp(storage.env());
    shop = new ShopClient(child.url);
    const orders = await shop.waitSettled(placed.map((p) => p.body.id));
    const outcome = (o: { status: string; cancelReason?: string }) => o.cancelReason ?? o.status;
    expect(orders.slice(0, 8).map(outcome).sort()).toEqual([...Array(6).fill('confirmed'), ...Array(2).fill('out_of_stock')]);
    expect(orders.slice(8).map(outcome).sort()).toEqual(['confirmed', 'confirmed', 'payment_declined', 'payment_declined']);
    const running = child;
    await expectInvariants(
      shop,
      {
        products: [
          { id: scarce.id, initialStock: 6 },
          { id: plenty.id, initialStock: 100 },
        ],
        wallets: [rich, poor].map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds: placed.map((p) => p.body.id),
      },
      { ledger: storage.ledger(() => [running]) },
    );
    await child.kill('SIGKILL');
  });

  it('a SIGKILL right after a handler committed, before its delivery was acknowledged: the redelivery is suppressed and nothing is doubled', async () => {
    await expectSurvivesKillMidBurst({ env: storage.env(), stock: 20, orders: 40, onChild: (c) => (child = c), ledger: storage.ledger });
  });
});
