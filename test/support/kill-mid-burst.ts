import { expect } from 'vitest';
import { startChildApp, type ChildApp } from './child-app.js';
import { expectInvariants } from './invariants.js';
import { ShopClient } from './shop-client.js';

export interface KillMidBurstOptions {
  env: Record<string, string>;
  stock: number;
  orders: number;
  /** SIGKILL once this many orders were accepted. */
  killAfter: number;
  /** Called with each process started, so the test can clean up. */
  onChild: (child: ChildApp) => void;
  settleTimeoutMs?: number;
}

/**
 * The crash scenario shared by both transports: a burst of orders, a SIGKILL
 * once some are accepted (relay and handlers busy), a restart on the same
 * data, then every order settles (also those whose 202 the kill cut off) and
 * the invariants hold: nothing lost, nothing done twice.
 */
export async function expectSurvivesKillMidBurst(options: KillMidBurstOptions): Promise<void> {
  let child = await startChildApp(options.env);
  options.onChild(child);
  let shop = new ShopClient(child.url);
  const product = await shop.createProduct(options.stock, 300);
  const wallets = await Promise.all([shop.createWallet(1_500), shop.createWallet(100_000)]);
  const accepted: string[] = [];
  const burst = Array.from({ length: options.orders }, (_, i) =>
    shop
      .placeOrder(wallets[i % 2]!.customerId, [{ productId: product.id, quantity: 1 }])
      .then((res) => {
        if (res.status === 202) accepted.push(res.body.id);
      })
      .catch(() => undefined), // requests cut by the kill
  );
  while (accepted.length < options.killAfter) await new Promise((r) => setTimeout(r, 5));
  await child.kill('SIGKILL');
  await Promise.all(burst);

  child = await startChildApp(options.env);
  options.onChild(child);
  shop = new ShopClient(child.url);
  // An order can be committed while its 202 was cut by the kill: count those too.
  const stored = (await Promise.all(wallets.map((w) => shop.ordersOf(w.customerId)))).flat();
  expect(stored).toEqual(expect.arrayContaining(accepted));
  await expectInvariants(
    shop,
    {
      products: [{ id: product.id, initialStock: options.stock }],
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds: stored,
    },
    options.settleTimeoutMs,
  );
}
