import { expect } from 'vitest';
import { startChildApp, type ChildApp } from './child-app.js';
import type { EventLedger } from './event-ledger.js';
import { expectInvariants } from './invariants.js';
import { ShopClient } from './shop-client.js';

export interface KillMidBurstOptions {
  env: Record<string, string>;
  stock: number;
  orders: number;
  /** The handler at whose `faultAt`-th commit the process kills itself (catalog.reserve-stock by default). */
  faultHandler?: string;
  faultAt?: number;
  /** Called with each process started, so the test can clean up. */
  onChild: (child: ChildApp) => void;
  /** The system's ledger, given the processes running at the end. */
  ledger: (running: () => readonly ChildApp[]) => EventLedger;
  settleTimeoutMs?: number;
}

interface FaultLine {
  msg: string;
  point: string;
  subject: string;
  eventIds: string[];
  handled: number;
}

function faultHit(child: ChildApp): FaultLine | undefined {
  return child.lines.map((line) => JSON.parse(line) as FaultLine).find((entry) => entry.msg === 'fault point hit');
}

/** `events_handled_total` of one handler and outcome in a Prometheus text. */
export function handledCount(metrics: string, handler: string, outcome: string): number {
  const match = new RegExp(`^events_handled_total\\{handler="${handler.replace(/\./g, '\\.')}",outcome="${outcome}"\\} (\\d+)`, 'm').exec(metrics);
  return match ? Number(match[1]) : 0;
}

/**
 * The crash scenario shared by both transports, aimed at the redelivery
 * window: a burst of orders, and the process kills itself (SIGKILL, through
 * the test-only fault point `event.after-commit`) right after a handler's
 * transaction committed and before the delivery was acknowledged (outbox row
 * not marked published; BullMQ job not completed). After a restart on the
 * same data those events arrive again: the handler's inbox must turn them
 * into duplicates (counted in the new process), every order settles (also
 * those whose 202 the kill cut off), and the invariants hold: nothing lost,
 * nothing done twice, no dead letter, no failed attempt, no duplicate-key error.
 */
export async function expectSurvivesKillMidBurst(options: KillMidBurstOptions): Promise<void> {
  const handler = options.faultHandler ?? 'catalog.reserve-stock';
  let child = await startChildApp({ ...options.env, MMK_FAULT_POINTS: `event.after-commit:${handler}=kill@${options.faultAt ?? 3}` });
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
  const ended = await Promise.race([child.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
  expect(ended, `the fault point in ${handler} was not hit within 30 s`).toEqual({ code: null, signal: 'SIGKILL' });
  const hit = faultHit(child);
  expect(hit).toMatchObject({ point: 'event.after-commit', subject: handler });
  // The killed transaction did commit fresh work: the window is the one between that commit and the acknowledgement.
  expect(hit!.handled).toBeGreaterThan(0);
  await Promise.all(burst);

  child = await startChildApp(options.env);
  options.onChild(child);
  shop = new ShopClient(child.url);
  // An order can be committed while its 202 was cut by the kill: count those too.
  const stored = (await Promise.all(wallets.map((w) => shop.ordersOf(w.customerId)))).flat();
  expect(stored).toEqual(expect.arrayContaining(accepted));
  const settled = await shop.waitSettled(stored, options.settleTimeoutMs ?? 30_000);
  expect(settled.filter((o) => o.status === 'confirmed').length).toBeGreaterThan(0);
  // The events committed at the kill came again, and the inbox suppressed each of them.
  await expect
    .poll(async () => handledCount((await shop.request('GET', '/metrics')).body as string, handler, 'duplicate'), { timeout: options.settleTimeoutMs ?? 30_000 })
    .toBeGreaterThanOrEqual(hit!.handled);
  const survivor = child;
  await expectInvariants(
    shop,
    {
      products: [{ id: product.id, initialStock: options.stock }],
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds: stored,
    },
    { ledger: options.ledger(() => (survivor.process.exitCode === null && survivor.process.signalCode === null ? [survivor] : [])), timeoutMs: options.settleTimeoutMs },
  );
  expect(survivor.lines.filter((line) => line.includes('duplicate key')), 'duplicate-key errors after the restart').toEqual([]);
}
