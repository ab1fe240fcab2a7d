import { afterAll, describe, expect, it } from 'vitest';
import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { extractedTopology, removeExtractedRepositories, type RunningExtracted } from './support/extracted-topology.js';
import { expectInvariants } from './support/invariants.js';

// The same scenarios again (DESIGN.md section 7), after `npm run extract -- payments` and `npm run move-data`:
// the monolith as `npm start` runs it and the service as `npm start -w extracted/payments` runs it, on its own database.
sagaScenarios(extractedTopology('payments', { moveData: true }));

describe('payments extracted, its data moved while orders come in', () => {
  let running: RunningExtracted | undefined;

  afterAll(async () => {
    await running?.stop();
    removeExtractedRepositories();
  });

  it('every order placed before, during and after the move settles once', async () => {
    running = await extractedTopology('payments', { moveData: false }).start();
    const { shop } = running;
    const product = await shop.createProduct(1_000, 300);
    const wallets = await Promise.all(Array.from({ length: 8 }, () => shop.createWallet(50_000)));
    const orderIds: string[] = [];
    const place = async (i: number) => {
      const placed = await shop.placeOrderAccepted(wallets[i % wallets.length]!.customerId, [{ productId: product.id, quantity: 1 + (i % 3) }]);
      expect(placed.status).toBe(202);
      orderIds.push(placed.body.id as string);
    };
    for (let i = 0; i < 5; i++) await place(i);

    // Orders keep coming in through the monolith while the operator stops payments, moves its data, and starts it again.
    let placing = true;
    const traffic = (async () => {
      for (let i = 5; placing; i++) {
        await place(i);
        await new Promise((done) => setTimeout(done, 100));
      }
    })();
    await running.service.kill('SIGTERM');
    const moved = await running.moveData(running.monolithDb.url, running.serviceDb.url);
    expect(moved.stderr).toBe('');
    expect(moved.code).toBe(0);
    expect(moved.stdout).toMatch(/✔ move-data payments: 6 tables/);
    await running.startService(running.serviceDb.url);
    await new Promise((done) => setTimeout(done, 500));
    placing = false;
    await traffic;
    expect(orderIds.length).toBeGreaterThan(10);

    await expectInvariants(
      shop,
      {
        products: [{ id: product.id, initialStock: 1_000 }],
        wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
        orderIds,
      },
      { ledger: running.ledger, timeoutMs: 60_000 },
    );
    const orders = await shop.waitSettled(orderIds);
    expect(orders.every((o) => o.status === 'confirmed')).toBe(true);
  });
});
