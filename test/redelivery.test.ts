import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../src/kernel/index.js';
import { expectInvariants } from './support/invariants.js';
import { settledSaga } from './support/settled-saga.js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { bullmqTopology, pgliteTopology, postgresTopology, TEST_REDIS_URL, testQueuePrefix, type RunningShop } from './support/topologies.js';

const MODULES = ['catalog', 'orders', 'payments', 'shipping'];

async function publishedEvents(running: RunningShop): Promise<EventEnvelope[]> {
  const events: EventEnvelope[] = [];
  for (const module of MODULES) {
    const rows = await running.app.database.forModule(module).read((k) => k('outbox').orderBy('seq'));
    for (const row of rows) {
      events.push({
        id: row.id,
        name: row.event_name,
        version: row.event_version,
        source: module,
        payload: typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload,
        correlationId: row.correlation_id,
        occurredAt: new Date(row.occurred_at).toISOString(),
      });
    }
  }
  return events;
}

describe.each([pgliteTopology(), postgresTopology()])('redelivery on $name', (topology) => {
  let running: RunningShop;
  beforeAll(async () => {
    running = await topology.start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('delivering every event of a settled saga again changes nothing', async () => {
    const { shop, app } = running;
    const saga = await settledSaga(shop);

    const events = await publishedEvents(running);
    // OrderPlaced x3, then StockReserved/Failed, Payment*, OrderConfirmed/Cancelled: the whole saga.
    expect(events.length).toBeGreaterThanOrEqual(9);
    const consumersOf = (event: EventEnvelope) => [...running.ledger.consumers.values()].filter((key) => key === `${event.name}@${event.version}`).length;
    const deliveries = events.reduce((n, event) => n + consumersOf(event), 0);
    const outcomes = async () => {
      const text = await app.metrics.registry.getSingleMetricAsString('events_handled_total');
      return { handled: counter(text, 'outcome="handled"'), duplicate: counter(text, 'outcome="duplicate"') };
    };
    const before = await outcomes();

    // Straight to the transport, twice, as a broker that redelivers would.
    await app.transport.publish(events);
    await app.transport.publish(events);

    // Every delivery of both rounds was recognised by the inbox; none ran its handler again.
    expect(await outcomes()).toEqual({ handled: before.handled, duplicate: before.duplicate + 2 * deliveries });
    expect(await saga.state()).toEqual(saga.before);
  });

  it('an outbox whose rows are all marked unpublished again is relayed again with no effect', async () => {
    const { shop, app } = running;
    const product = await shop.createProduct(2, 100);
    const wallet = await shop.createWallet(1_000);
    const placed = await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }]);
    await shop.waitSettled([placed.body.id]);

    for (const module of MODULES) {
      await app.database.forModule(module).read((k) => k('outbox').update({ published_at: null, claimed_until: null }));
    }
    // The relays pick everything up again; wait until every outbox is drained once more.
    await expect
      .poll(
        async () => {
          let pending = 0;
          for (const module of MODULES) {
            const row = await app.database.forModule(module).read((k) => k('outbox').whereNull('published_at').count({ n: '*' }).first());
            pending += Number(row?.n ?? 0);
          }
          return pending;
        },
        { timeout: 20_000, interval: 100 },
      )
      .toBe(0);
    await expectInvariants(
      shop,
      {
        products: [{ id: product.id, initialStock: 2 }],
        wallets: [{ customerId: wallet.customerId, initialBalance: 1_000 }],
        orderIds: [placed.body.id],
      },
      { ledger: running.ledger },
    );
  });
});

describe('redelivery on PostgreSQL + BullMQ', () => {
  let running: RunningShop;
  let prefix: string;
  beforeAll(async () => {
    prefix = testQueuePrefix();
    running = await bullmqTopology({}, 'PostgreSQL + BullMQ', { EVENT_QUEUE_PREFIX: prefix }).start();
  });
  afterAll(async () => {
    await running?.stop();
  });

  it('jobs added again for every event of a settled saga, as a broker redelivering would, change nothing', async () => {
    const { shop, app } = running;
    const saga = await settledSaga(shop);

    // New job ids, so BullMQ runs every delivery again instead of recognising it.
    const events = await publishedEvents(running);
    const routes: Record<string, string> = {
      'orders.OrderPlaced': 'catalog.reserve-stock',
      'orders.OrderCancelled': 'catalog.release-stock',
      'orders.OrderConfirmed': 'shipping.create-shipment',
      'catalog.StockReserved': 'payments.capture-payment',
      'catalog.StockReservationFailed': 'orders.cancel-out-of-stock',
      'payments.PaymentCaptured': 'orders.confirm-order',
      'payments.PaymentDeclined': 'orders.cancel-payment-declined',
    };
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const queues = new Map<string, Queue>();
    try {
      for (const event of events) {
        const handler = routes[event.name]!;
        if (!queues.has(handler)) queues.set(handler, new Queue(handler, { connection: redis, prefix }));
        await queues.get(handler)!.add(event.name, event, { jobId: `${event.id}.${handler}.again` });
      }
      await expect
        .poll(async () => counter(await app.metrics.registry.getSingleMetricAsString('events_handled_total'), 'outcome="duplicate"'), { timeout: 20_000 })
        .toBe(events.length);
    } finally {
      await Promise.all([...queues.values()].map((q) => q.close()));
      redis.disconnect();
    }
    expect(await saga.state()).toEqual(saga.before);
  });
});

function counter(text: string, labelFilter: string): number {
  return [...text.matchAll(/^events_handled_total\{([^}]*)\} (\d+)/gm)].filter((m) => m[1]!.includes(labelFilter)).reduce((n, m) => n + Number(m[2]), 0);
}
