import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, createApp, loadConfig, on, type App } from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { OrderPlacedProbe, probeModule } from './support/probe-module.js';
import { ShopClient } from './support/shop-client.js';

// A test module that reacts to OrderPlaced: one handler fails twice then works,
// one always fails (a poison event for it), one rejects a payload it cannot read.
const attempts = new Map<string, number>();
const OrderPlacedMisread = consumes('orders.OrderPlaced', 1, z.object({ orderId: z.number() }));

const probe = probeModule([
  on(OrderPlacedProbe, 'flaky', async ({ orderId }, { trx }) => {
    const n = (attempts.get(`flaky:${orderId}`) ?? 0) + 1;
    attempts.set(`flaky:${orderId}`, n);
    // The write happens before the failure: it must be rolled back with the inbox record.
    await trx('inbox').insert({ event_id: '00000000-0000-4000-8000-00000000000' + (n % 10), handler: `side-effect-${orderId}` });
    if (n < 3) throw new Error(`flaky failure ${n}`);
  }),
  on(OrderPlacedProbe, 'poison', async ({ orderId }) => {
    attempts.set(`poison:${orderId}`, (attempts.get(`poison:${orderId}`) ?? 0) + 1);
    throw new Error('poison: this handler always fails');
  }),
  on(OrderPlacedMisread, 'misread', async () => undefined),
]);

describe('retries and dead letters (memory bus, PGlite)', () => {
  let app: App;
  let shop: ShopClient;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'mmk-dlq-'));
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', DATA_DIR: dataDir, EVENT_MAX_ATTEMPTS: '4' });
    app = await createApp({ modules: [...SHOP_MODULES, probe], config, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
    shop = new ShopClient((await app.start()).url);
  });
  afterAll(async () => {
    await app?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('retries a failing handler, dead-letters a poison event after the last attempt, and the saga still completes', async () => {
    const product = await shop.createProduct(5, 100);
    const wallet = await shop.createWallet(1_000);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }], { 'x-request-id': 'dlq-test-1' });
    const orderId = placed.body.id as string;
    const [order] = await shop.waitSettled([orderId]);
    expect(order!.status).toBe('confirmed');

    const probe = app.database.forModule('probe');
    await expect.poll(() => probe.read((k) => k('dead_letters').orderBy('handler')), { timeout: 10_000 }).toHaveLength(2);
    const deadLetters = await probe.read((k) => k('dead_letters').orderBy('handler'));
    expect(deadLetters.map((d: { handler: string }) => d.handler)).toEqual(['probe.misread', 'probe.poison']);
    const poison = deadLetters.find((d: { handler: string }) => d.handler === 'probe.poison')!;
    expect(poison).toMatchObject({ event_name: 'orders.OrderPlaced', attempts: 4, error: 'poison: this handler always fails' });
    const envelope = typeof poison.envelope === 'string' ? JSON.parse(poison.envelope) : poison.envelope;
    expect(envelope).toMatchObject({ payload: { orderId }, correlationId: 'dlq-test-1' });
    expect(attempts.get(`poison:${orderId}`)).toBe(4);
    // An unreadable payload is dead-lettered at once: retrying cannot fix it.
    expect(deadLetters.find((d: { handler: string }) => d.handler === 'probe.misread')).toMatchObject({ attempts: 1 });

    // The flaky handler succeeded on its third attempt; its failed attempts left nothing behind.
    expect(attempts.get(`flaky:${orderId}`)).toBe(3);
    const inbox = await probe.read((k) => k('inbox').where('handler', 'like', `side-effect-%`));
    expect(inbox).toHaveLength(1);
    const handled = await probe.read((k) => k('inbox').where({ handler: 'probe.flaky' }));
    expect(handled).toHaveLength(1);
    expect(await probe.read((k) => k('inbox').where({ handler: 'probe.poison' }))).toHaveLength(0);
  });
});
