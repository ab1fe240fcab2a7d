import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, jsonBinding, loadConfig, type App, type ApiBinding } from '../../src/kernel/index.js';
import { SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../../src/app.js';
import { appLedger, type EventLedger } from './event-ledger.js';
import { createTestDatabase, testTag } from './postgres.js';
import { deleteRedisKeys, TEST_REDIS_URL } from './redis-keys.js';
import { ShopClient } from './shop-client.js';

/** One way to run the shop; the same scenarios run against each. */
export interface Topology<R extends RunningSystem = RunningShop> {
  name: string;
  start(): Promise<R>;
}

/** A running shop, in one process or several, seen from outside. */
export interface RunningSystem {
  /** A client of the shop's one public base URL. */
  shop: ShopClient;
  /** The event bookkeeping every scenario is held to (expectInvariants, expectLedgerSettled). */
  ledger: EventLedger;
  /**
   * Marks every event of every outbox unpublished again, as a relay that
   * crashed before recording its work would leave them; returns how many.
   */
  unpublishAll(): Promise<number>;
  stop(): Promise<void>;
}

/** A shop whose one process runs in the test's own process. */
export interface RunningShop extends RunningSystem {
  app: App;
}

/** The shop's modules, in the order the composition root lists them. */
export const SHOP_MODULE_NAMES = SHOP_MODULES.map((m) => m.name);

/** Test speed: retries in milliseconds instead of seconds. */
const FAST_RETRY = { baseDelayMs: 10, maxDelayMs: 100 };

async function boot(env: Record<string, string>, apiBindings: Record<string, ApiBinding>, cleanup: () => Promise<void>): Promise<RunningShop> {
  const config = loadConfig({ PORT: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env });
  const app = await createApp({ modules: SHOP_MODULES, config, apiBindings, retry: FAST_RETRY, topologyFile: SHOP_TOPOLOGY_FILE });
  const { url } = await app.start();
  return {
    app,
    shop: new ShopClient(url),
    ledger: appLedger(app, SHOP_MODULES),
    async unpublishAll() {
      let n = 0;
      for (const module of SHOP_MODULE_NAMES) {
        n += (await app.database.forModule(module).query('update outbox set published_at = null, claimed_until = null where published_at is not null returning seq')).length;
      }
      return n;
    },
    async stop() {
      await app.stop();
      await cleanup();
    },
  };
}

export function pgliteTopology(apiBindings: Record<string, ApiBinding> = {}, name = 'PGlite + memory bus'): Topology {
  return {
    name,
    async start() {
      const dataDir = await mkdtemp(join(tmpdir(), 'mmk-pglite-'));
      return boot({ DATA_DIR: dataDir }, apiBindings, () => rm(dataDir, { recursive: true, force: true }));
    },
  };
}

export function postgresTopology(apiBindings: Record<string, ApiBinding> = {}, name = 'PostgreSQL + memory bus', env: Record<string, string> = {}): Topology {
  return {
    name,
    async start() {
      const database = await createTestDatabase();
      return boot({ ...env, DATABASE_URL: database.url }, apiBindings, () => database.drop());
    },
  };
}

export { TEST_REDIS_URL };

/** Deletes every key under a prefix, so test runs leave the shared Redis clean. */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  await deleteRedisKeys(redisUrl, `${prefix}:*`);
}

/** A queue prefix of its own per test run and topology. */
export function testQueuePrefix(): string {
  return `mmk-test-${testTag('-')}${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function bullmqTopology(apiBindings: Record<string, ApiBinding> = {}, name = 'PostgreSQL + BullMQ', env: Record<string, string> = {}): Topology {
  return {
    name,
    async start() {
      const database = await createTestDatabase();
      const prefix = env.EVENT_QUEUE_PREFIX ?? testQueuePrefix();
      const redisUrl = env.REDIS_URL ?? TEST_REDIS_URL;
      return boot({ EVENT_BUS: 'bullmq', REDIS_URL: redisUrl, ...env, EVENT_QUEUE_PREFIX: prefix, DATABASE_URL: database.url }, apiBindings, async () => {
        await database.drop();
        await dropRedisPrefix(redisUrl, prefix).catch(() => undefined);
      });
    },
  };
}

/** Catalog's API behind a serializing, validating binding instead of a direct call. */
export const JSON_BINDINGS: Record<string, ApiBinding> = { catalog: jsonBinding };
