import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countDeadLetters, createApp, getDeadLetter, listDeadLetters, loadConfig, on, replayDeadLetter, type App, type EventEnvelope, type Knex,
} from '../src/kernel/index.js';
import { SHOP_MODULES } from '../src/app.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { probeModule, OrderPlacedProbe } from './support/probe-module.js';
import { ShopClient } from './support/shop-client.js';

// A test module whose handlers fail: `poison` always, `fixable` until the test repairs it.
let fixableBroken = true;
const probe = probeModule([
  on(OrderPlacedProbe, 'poison', async () => {
    throw new Error('poison: this handler always fails\nat some frame');
  }),
  on(OrderPlacedProbe, 'fixable', async ({ orderId }, { trx }) => {
    if (fixableBroken) throw new Error('fixable: broken for now');
    // The handler's effect, counted below: it must happen exactly once.
    await trx('inbox').insert({ event_id: orderId, handler: 'fixable-effect' });
  }),
]);
const SHOP = SHOP_MODULES.map((m) => m.name);
const ROOT = new URL('..', import.meta.url).pathname;
// Each CLI run starts Node and compiles the app (a few seconds on a busy machine).
const CLI_TIMEOUT = { timeout: 240_000 };

let database: TestDatabase;
let app: App | undefined;
let shop: ShopClient;

async function boot(env: Record<string, string>, withProbe: boolean): Promise<void> {
  const config = loadConfig({ PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', DATABASE_URL: database.url, EVENT_MAX_ATTEMPTS: '2', ...env });
  app = await createApp({ modules: withProbe ? [...SHOP_MODULES, probe] : SHOP_MODULES, config, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
  shop = new ShopClient((await app.start()).url);
}

/** Runs `npm run events -- …` as a child process against the test database. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { cwd: ROOT, env: { ...process.env, DATABASE_URL: database.url, ...env } };
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/events.ts', ...args], options, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

async function confirmedOrder(): Promise<string> {
  const product = await shop.createProduct(10, 100);
  const wallet = await shop.createWallet(1_000);
  const orderId = (await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])).body.id as string;
  expect((await shop.waitSettled([orderId]))[0]!.status).toBe('confirmed');
  await expect.poll(() => shop.shipmentsOf(orderId)).toHaveLength(1);
  return orderId;
}

/** Stores a dead letter of shipping's `create-shipment`, as the transport does when its attempts run out. */
async function insertShippingDeadLetter(envelope: EventEnvelope, trx: Knex): Promise<string> {
  const id = randomUUID();
  await trx('dead_letters').insert({
    id, event_id: envelope.id, event_name: envelope.name, event_version: envelope.version, handler: 'shipping.create-shipment',
    envelope: JSON.stringify(envelope), error: 'Connection terminated unexpectedly', attempts: 5,
  });
  return id;
}

/**
 * What shipping's store looks like when `create-shipment` failed on every attempt for a
 * confirmed order: no shipment, no inbox record, a dead letter holding the real OrderConfirmed envelope.
 */
async function shipmentDeadLettered(orderId: string): Promise<string> {
  const row = await app!.database.forModule('orders').read((k) => k('outbox').where({ event_name: 'orders.OrderConfirmed' }).whereRaw(`payload->>'orderId' = ?`, [orderId]).first());
  const envelope: EventEnvelope = {
    id: row.id, name: row.event_name, version: row.event_version, source: 'orders', payload: row.payload,
    correlationId: row.correlation_id, occurredAt: new Date(row.occurred_at).toISOString(),
  };
  return app!.database.forModule('shipping').transaction(async (trx) => {
    await trx('shipments').where({ order_id: orderId }).delete();
    await trx('inbox').where({ event_id: envelope.id, handler: 'shipping.create-shipment' }).delete();
    return insertShippingDeadLetter(envelope, trx);
  });
}

describe('dead letters and the events CLI (PostgreSQL)', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    await boot({}, true);
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
  });

  it('lists, finds, counts and replays dead letters through the kernel functions', async () => {
    const product = await shop.createProduct(5, 100);
    const wallet = await shop.createWallet(1_000);
    const orderId = (await shop.placeOrder(wallet.customerId, [{ productId: product.id, quantity: 1 }])).body.id as string;
    const all = [...SHOP, 'probe'];
    await expect.poll(() => listDeadLetters(app!.database, { modules: all }), { timeout: 10_000 }).toHaveLength(2);

    const listed = await listDeadLetters(app!.database, { modules: all });
    expect(listed.map((d) => d.handler).sort()).toEqual(['probe.fixable', 'probe.poison']);
    expect(listed[0]!.failedAt.getTime()).toBeGreaterThanOrEqual(listed[1]!.failedAt.getTime());
    const poison = listed.find((d) => d.handler === 'probe.poison')!;
    const fixable = listed.find((d) => d.handler === 'probe.fixable')!;
    expect(poison).toMatchObject({ module: 'probe', eventName: 'orders.OrderPlaced', eventVersion: 1, attempts: 2, replayedAt: null });
    expect(poison.envelope).toMatchObject({ id: poison.eventId, payload: { orderId } });
    expect(await listDeadLetters(app!.database, { modules: all, limit: 1 })).toHaveLength(1);
    expect(await listDeadLetters(app!.database, { modules: SHOP })).toEqual([]);
    expect(await getDeadLetter(app!.database, all, poison.id)).toEqual(poison);
    expect(await getDeadLetter(app!.database, all, randomUUID())).toBeUndefined();
    expect(await getDeadLetter(app!.database, all, 'not-a-uuid')).toBeUndefined();
    expect(await countDeadLetters(app!.database, ['catalog', 'probe'])).toEqual([
      { module: 'catalog', total: 0, pending: 0 },
      { module: 'probe', total: 2, pending: 2 },
    ]);

    // The handler still fails: the row stays, with one more attempt and the new failure time.
    const failed = await replayDeadLetter(app!.database, app!.consumers, poison);
    expect(failed).toMatchObject({ outcome: 'failed', error: 'poison: this handler always fails\nat some frame' });
    expect(failed.deadLetter).toMatchObject({ attempts: 3, replayedAt: null });
    expect(failed.deadLetter.failedAt.getTime()).toBeGreaterThan(poison.failedAt.getTime());
    expect(await getDeadLetter(app!.database, all, poison.id)).toMatchObject({ attempts: 3, replayedAt: null });
    // No such handler in this process: reported, and the row is left as it was.
    expect(await replayDeadLetter(app!.database, [], poison)).toMatchObject({ outcome: 'failed', error: 'no handler probe.poison in this process' });
    expect(await getDeadLetter(app!.database, all, poison.id)).toMatchObject({ attempts: 3 });

    fixableBroken = false;
    const effects = () => app!.database.forModule('probe').read((k) => k('inbox').where({ handler: 'fixable-effect', event_id: orderId }));
    const handled = await replayDeadLetter(app!.database, app!.consumers, fixable);
    expect(handled.outcome).toBe('handled');
    expect(handled.deadLetter.replayedAt).toBeInstanceOf(Date);
    expect(await replayDeadLetter(app!.database, app!.consumers, handled.deadLetter)).toMatchObject({ outcome: 'skipped' });
    expect(await replayDeadLetter(app!.database, app!.consumers, handled.deadLetter, { force: true })).toMatchObject({ outcome: 'duplicate' });
    expect(await effects()).toHaveLength(1);
    expect(await countDeadLetters(app!.database, ['probe'])).toEqual([{ module: 'probe', total: 2, pending: 1 }]);
    expect((await listDeadLetters(app!.database, { modules: all })).map((d) => d.id)).toEqual([poison.id]);
    expect(await listDeadLetters(app!.database, { modules: all, includeReplayed: true })).toHaveLength(2);
  });

  it('lists, shows and replays a shop dead letter from the CLI, exactly once', CLI_TIMEOUT, async () => {
    const orderId = await confirmedOrder();
    const id = await shipmentDeadLettered(orderId);
    expect(await shop.shipmentsOf(orderId)).toHaveLength(0);

    const list = await cli(['list']);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    const [header, row, summary] = list.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+MODULE\s+HANDLER\s+EVENT\s+ATTEMPTS\s+FAILED AT\s+REPLAYED\s+ERROR$/);
    expect(row).toMatch(new RegExp(`^${id}\\s+shipping\\s+shipping\\.create-shipment\\s+orders\\.OrderConfirmed@1\\s+5\\s+\\S+Z\\s+no\\s+Connection terminated unexpectedly$`));
    expect(summary).toBe('1 dead letter (1 pending replay) in 1 module');

    const show = await cli(['show', id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^id\\s+${id}$`, 'm'));
    expect(show.stdout).toMatch(/^handler\s+shipping\.create-shipment$/m);
    expect(show.stdout).toMatch(/^attempts\s+5$/m);
    expect(show.stdout).toContain('error:\n  Connection terminated unexpectedly');
    expect(show.stdout).toContain(`"orderId": "${orderId}"`);

    const replay = await cli(['replay', id]);
    expect(replay).toMatchObject({ code: 0, stderr: '' });
    expect(replay.stdout).toBe(`replaying 1/1 ${id} shipping.create-shipment orders.OrderConfirmed@1 … handled\nreplayed 1, duplicate 0, failed 0\n`);
    expect(await shop.shipmentsOf(orderId)).toHaveLength(1);

    const again = await cli(['replay', id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/… skipped: already replayed at \S+Z \(--force to replay again\)\nreplayed 0, duplicate 0, failed 0, skipped 1\n$/);
    const forced = await cli(['replay', id, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/… duplicate\nreplayed 0, duplicate 1, failed 0\n$/);
    expect(await shop.shipmentsOf(orderId)).toHaveLength(1);

    expect((await cli(['list'])).stdout).toBe('0 dead letters (0 pending replay) in 0 modules\n');
    const listAll = await cli(['list', '--all', '--module', 'shipping']);
    expect(listAll.stdout).toMatch(new RegExp(`^${id}\\s.*\\syes\\s`, 'm'));
    expect(listAll.stdout.trim().split('\n').at(-1)).toBe('1 dead letter (0 pending replay) in 1 module');
  });

  it('shows the backlog per module and replays every pending dead letter of a module', CLI_TIMEOUT, async () => {
    const orders = [await confirmedOrder(), await confirmedOrder()];
    for (const orderId of orders) await shipmentDeadLettered(orderId);
    // A process that relays nothing: the next order's OrderPlaced waits in the orders outbox.
    await app!.stop();
    await boot({ EVENT_RELAY: 'off' }, false);
    const product = await shop.createProduct(5, 100);
    expect((await shop.placeOrder('backlog-customer', [{ productId: product.id, quantity: 1 }])).status).toBe(202);

    const backlog = await cli(['backlog']);
    expect(backlog).toMatchObject({ code: 0, stderr: '' });
    const lines = backlog.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^MODULE\s+OUTBOX UNPUBLISHED\s+OLDEST\s+DEAD LETTERS PENDING$/);
    expect(lines).toContainEqual(expect.stringMatching(/^orders\s+1\s+\d+(\.\d)? (ms|s)\s+0$/));
    expect(lines).toContainEqual(expect.stringMatching(/^catalog\s+0\s+-\s+0$/));
    expect(lines).toContainEqual(expect.stringMatching(/^shipping\s+0\s+-\s+2$/));
    expect(lines.at(-1)).toBe('1 unpublished event in 1 module; 2 dead letters pending replay');

    const replay = await cli(['replay', '--all', '--module', 'shipping']);
    expect(replay).toMatchObject({ code: 0, stderr: '' });
    expect(replay.stdout).toMatch(/^replaying 1\/2 .* … handled\nreplaying 2\/2 .* … handled\nreplayed 2, duplicate 0, failed 0\n$/);
    for (const orderId of orders) expect(await shop.shipmentsOf(orderId)).toHaveLength(1);
    expect((await cli(['backlog'])).stdout).toMatch(/^shipping\s+0\s+-\s+0$/m);
  });

  it('reports a replay whose handler fails again, keeps the row and exits 1', CLI_TIMEOUT, async () => {
    // A poison event: create-shipment cannot read its payload, on any delivery.
    const poison: EventEnvelope = {
      id: randomUUID(), name: 'orders.OrderConfirmed', version: 1, source: 'orders', payload: { orderId: 42 }, correlationId: 'poison-1', occurredAt: new Date().toISOString(),
    };
    const id = await app!.database.forModule('shipping').read((k) => insertShippingDeadLetter(poison, k));
    const replay = await cli(['replay', id]);
    expect(replay.code).toBe(1);
    expect(replay.stdout).toMatch(/… failed: orders\.OrderConfirmed@1 does not match the schema of shipping\.create-shipment \(attempts 6\)\nreplayed 0, duplicate 0, failed 1\n$/);
    expect((await cli(['show', id])).stdout).toMatch(/^attempts\s+6$/m);
  });

  it('answers bad input and bad settings with one line on stderr and exit code 1', CLI_TIMEOUT, async () => {
    const unknown = randomUUID();
    const cases: Array<[string[], Record<string, string>, string]> = [
      [['show', 'abc'], {}, 'events: "abc" is not a dead-letter id (expected a UUID)'],
      [['replay', '12345'], {}, 'events: "12345" is not a dead-letter id (expected a UUID)'],
      [['show', unknown], {}, `events: no dead letter ${unknown}`],
      [['replay', unknown], {}, `events: no dead letter ${unknown}`],
      [['list', '--module', 'nope'], {}, 'events: unknown module "nope" (known modules: catalog, orders, payments, shipping)'],
      [['replay', '--all', '--module', 'nope'], {}, 'events: unknown module "nope" (known modules: catalog, orders, payments, shipping)'],
      [['list'], { EVENT_BUS: 'kafka' }, 'Invalid setting EVENT_BUS: expected "memory" or "bullmq" (got "kafka")'],
    ];
    const results = await Promise.all(cases.map(([args, env]) => cli(args, env)));
    for (const [i, [args, , message]] of cases.entries()) {
      expect({ args, ...results[i] }).toEqual({ args, code: 1, stdout: '', stderr: `${message}\n` });
    }
  });
  it('looks only at the modules its topology runs here (MODULES), whose tables this database holds', CLI_TIMEOUT, async () => {
    const split = {
      MODULES: 'shipping',
      EVENT_BUS: 'bullmq',
      EVENT_QUEUE_PREFIX: `mmk-cli-${randomUUID().slice(0, 8)}`,
      SERVICE_TOKEN_SECRET: 'a-test-secret-of-at-least-32-characters',
      SERVICE_URL_CATALOG: 'http://127.0.0.1:9',
      SERVICE_URL_ORDERS: 'http://127.0.0.1:9',
      SERVICE_URL_PAYMENTS: 'http://127.0.0.1:9',
    };
    const backlog = await cli(['backlog'], split);
    expect(backlog).toMatchObject({ code: 0, stderr: '' });
    const lines = backlog.stdout.trim().split('\n');
    expect(lines.slice(1, -1)).toEqual([expect.stringMatching(/^shipping\s+\d+\s+\S+\s+\d+$/)]);
    expect(await cli(['list', '--module', 'orders'], split)).toEqual({
      code: 1,
      stdout: '',
      stderr: 'events: module orders does not run in this topology (MODULES), so its tables are not in this database; run the command with the settings of the process that runs it\n',
    });
  });
});
