import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { extractedTopology, removeExtractedRepositories, type RunningExtracted } from './support/extracted-topology.js';
import { expectInvariants } from './support/invariants.js';

// The same scenarios again (DESIGN.md section 7), after `npm run extract -- payments` and `npm run move-data`:
// the monolith as `npm start` runs it and the service as `npm start -w extracted/payments` runs it, on its own database.
sagaScenarios(extractedTopology('payments', { moveData: true }));

describe('payments extracted, its data moved while orders come in', () => {
  let running: RunningExtracted | undefined;
  let settled: Parameters<typeof expectInvariants>[1] | undefined;

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

    settled = {
      products: [{ id: product.id, initialStock: 1_000 }],
      wallets: wallets.map((w) => ({ customerId: w.customerId, initialBalance: w.balanceCents })),
      orderIds,
    };
    await expectInvariants(shop, settled, { ledger: running.ledger, timeoutMs: 60_000 });
    const orders = await shop.waitSettled(orderIds);
    expect(orders.every((o) => o.status === 'confirmed')).toBe(true);
  });

  it("its events commands run in the service's folder on its database; the monolith's refuse payments, naming them", async () => {
    const monolithDb = new pg.Client({ connectionString: running!.monolithDb.url });
    const serviceDb = new pg.Client({ connectionString: running!.serviceDb.url });
    await Promise.all([monolithDb.connect(), serviceDb.connect()]);
    try {
      // A dead letter of capture-payment, as the transport stores one when its attempts run out, in the service's
      // database only: it holds a real StockReserved that payments handled already (its inbox has it).
      const { rows: [reserved] } = await monolithDb.query(`select * from catalog.outbox where event_name = 'catalog.StockReserved' order by occurred_at limit 1`);
      const envelope = {
        id: reserved.id, name: reserved.event_name, version: reserved.event_version, source: 'catalog', payload: reserved.payload,
        correlationId: reserved.correlation_id, occurredAt: new Date(reserved.occurred_at).toISOString(),
      };
      const id = randomUUID();
      await serviceDb.query(
        `insert into payments.dead_letters (id, event_id, event_name, event_version, handler, envelope, error, attempts) values ($1, $2, $3, $4, 'payments.capture-payment', $5, 'Connection terminated unexpectedly', 5)`,
        [id, envelope.id, envelope.name, envelope.version, JSON.stringify(envelope)],
      );

      const published = Number((await serviceDb.query(`select count(*) from payments.outbox where published_at > now() - interval '1 hour'`)).rows[0].count);
      // One PaymentCaptured per order of the test above, moved over with the rest.
      expect(published).toBeGreaterThan(10);

      // Three commands at once (each starts Node and loads the app: two seconds of CPU), the replay after the list.
      const [list, republish, rootRepublish] = await Promise.all([
        running!.events('service', ['list']),
        running!.events('service', ['republish', '--since', '1h']),
        running!.events('monolith', ['republish', '--since', '1h', '--module', 'payments']),
      ]);
      expect(list).toMatchObject({ code: 0, stderr: '' });
      const [header, row, summary] = list.stdout.trim().split('\n');
      expect(header).toMatch(/^ID\s+MODULE\s+HANDLER\s+EVENT/);
      expect(row).toMatch(new RegExp(`^${id}\\s+payments\\s+payments\\.capture-payment\\s+catalog\\.StockReserved@1\\s+5\\s+\\S+Z\\s+no\\s+Connection terminated unexpectedly$`));
      expect(summary).toBe('1 dead letter (1 pending replay) in 1 module');
      expect(republish).toMatchObject({ code: 0, stderr: '' });
      expect(republish.stdout).toMatch(new RegExp(`^payments\\s+${published}$`, 'm'));
      // From the root: one line naming the command to run instead, with the exit code of republish's other refusals.
      expect(rootRepublish).toEqual({
        code: 2,
        stdout: '',
        stderr: "events: payments is extracted: run npm run events -w extracted/payments -- republish --since 1h --module payments with the service's settings\n",
      });

      // capture-payment runs again in the service, on its inbox: the payment was taken once, so the event is a duplicate.
      const replay = await running!.events('service', ['replay', id]);
      expect(replay).toEqual({ code: 0, stderr: '', stdout: `replaying 1/1 ${id} payments.capture-payment catalog.StockReserved@1 … duplicate\nreplayed 0, duplicate 1, failed 0\n` });
      expect((await serviceDb.query('select replayed_at from payments.dead_letters where id = $1', [id])).rows[0].replayed_at).toBeInstanceOf(Date);
      // The running service's relay publishes them again; orders' inbox skips what it handled: every event still handled once.
      await expect.poll(async () => Number((await serviceDb.query('select count(*) from payments.outbox where published_at is null')).rows[0].count), { timeout: 15_000 }).toBe(0);
      await expectInvariants(running!.shop, settled!, { ledger: running!.ledger, timeoutMs: 15_000 });
    } finally {
      await Promise.all([monolithDb.end(), serviceDb.end()]);
    }
  });
});
