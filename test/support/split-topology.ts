import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { SHOP_MODULES } from '../../src/app.js';
import { startChildApp, type ChildApp } from './child-app.js';
import { postgresLedger } from './event-ledger.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { ShopClient } from './shop-client.js';
import { dropRedisPrefix, SHOP_MODULE_NAMES, TEST_REDIS_URL, testQueuePrefix, type RunningSystem, type Topology } from './topologies.js';

/** One process of a split shop: the modules it runs (`[]`: a pure gateway). */
export interface ProcessPlan {
  name: string;
  modules: readonly string[];
  /** Settings of this process only (over the topology's). */
  env?: Record<string, string>;
}

/** A port nobody listens on right now (the processes must know each other's URLs before they start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Several processes start at once on a small machine, each compiling the app with tsx. */
const START_TIMEOUT_MS = 120_000;

/**
 * The settings of one process of a split shop on the test machine: it runs
 * `modules` and finds every other module at `elsewhere` (one URL for all, or
 * one per module), on BullMQ under `prefix`.
 */
export function splitProcessEnv(options: {
  modules: readonly string[];
  elsewhere: string | Readonly<Record<string, string>>;
  prefix: string;
  secret: string;
  databaseUrl?: string;
}): Record<string, string> {
  const { modules, elsewhere } = options;
  const urlOf = (module: string) => (typeof elsewhere === 'string' ? elsewhere : elsewhere[module]!);
  return {
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    EVENT_BUS: 'bullmq',
    REDIS_URL: TEST_REDIS_URL,
    EVENT_QUEUE_PREFIX: options.prefix,
    MODULES: modules.length === 0 ? 'none' : modules.join(','),
    SERVICE_TOKEN_SECRET: options.secret,
    ...Object.fromEntries(SHOP_MODULE_NAMES.filter((m) => !modules.includes(m)).map((m) => [`SERVICE_URL_${m.toUpperCase()}`, urlOf(m)])),
  };
}

/**
 * Marks every event of every module's outbox unpublished again, each in the
 * database of the process that runs the module (RunningSystem.unpublishAll).
 */
export async function unpublishEverywhere(databaseOf: (module: string) => string): Promise<number> {
  let n = 0;
  for (const module of SHOP_MODULE_NAMES) {
    const client = new pg.Client({ connectionString: databaseOf(module) });
    await client.connect();
    try {
      n += (await client.query(`update "${module}".outbox set published_at = null, claimed_until = null where published_at is not null`)).rowCount ?? 0;
    } finally {
      await client.end();
    }
  }
  return n;
}

/** The secret every process of a test system shares. */
export const TEST_SERVICE_SECRET = `test-secret-${randomBytes(16).toString('hex')}`;

export interface RunningSplit extends RunningSystem {
  /** The processes by plan name, started (a stopped one is started again by `restart`). */
  readonly processes: Map<string, ChildApp>;
  readonly urls: Map<string, string>;
  /** The database of each module. */
  readonly databaseOf: (module: string) => string;
  /** The environment a plan's process runs with. */
  envOf(plan: string): Record<string, string>;
  /** Starts a plan's process (again), after a kill. */
  restart(plan: string): Promise<ChildApp>;
}

/**
 * The shop split over several child processes (`src/main.ts`, as `npm start`
 * runs it), each with its own PostgreSQL database, all on one BullMQ prefix.
 * The first plan is the gateway the client talks to; every process knows
 * every other's URL, so every process serves the whole public API.
 */
export function splitTopology(
  name: string,
  plans: readonly ProcessPlan[],
  extraEnv: Record<string, string> = {},
  /** Plans not started by `start` (a service that starts late: `restart` starts it). */
  startLater: readonly string[] = [],
): Topology<RunningSplit> {
  return {
    name,
    async start() {
      const prefix = testQueuePrefix();
      const databases = new Map<string, TestDatabase>();
      const processes = new Map<string, ChildApp>();
      const urls = new Map<string, string>();
      const stopAll = async () => {
        await Promise.all([...processes.values()].map((p) => p.kill('SIGKILL')));
        await Promise.all([...databases.values()].map((d) => d.drop()));
        await dropRedisPrefix(TEST_REDIS_URL, prefix).catch(() => undefined);
      };
      const moduleHome = new Map<string, string>();
      for (const plan of plans) for (const module of plan.modules) moduleHome.set(module, plan.name);
      const envs = new Map<string, Record<string, string>>();
      try {
        for (const plan of plans) {
          // A pure gateway runs no module: it gets no database (and opens none).
          if (plan.modules.length > 0) databases.set(plan.name, await createTestDatabase('mmk_split'));
          urls.set(plan.name, `http://127.0.0.1:${await freePort()}`);
        }
        const homeUrls = Object.fromEntries(SHOP_MODULE_NAMES.map((m) => [m, urls.get(moduleHome.get(m)!)!]));
        for (const plan of plans) {
          envs.set(plan.name, {
            PORT: new URL(urls.get(plan.name)!).port,
            ...splitProcessEnv({ modules: plan.modules, elsewhere: homeUrls, prefix, secret: TEST_SERVICE_SECRET, databaseUrl: databases.get(plan.name)?.url }),
            EVENT_RELAY_POLL_MS: '200',
            // The scenarios load a 2-core machine with many processes: a call that is slow is not a failure here
            // (the failure tests set their own short timeout).
            REMOTE_TIMEOUT_MS: '15000',
            // Many processes, and another test file beside them: stay well inside PostgreSQL's 100 connections.
            DATABASE_POOL_MAX: '3',
            ...extraEnv,
            ...plan.env,
          });
        }
        // Each child is registered as soon as it runs, so a failed start of another still gets it killed.
        const started = await Promise.allSettled(plans.filter((plan) => !startLater.includes(plan.name)).map(async (plan) => processes.set(plan.name, await startChildApp(envs.get(plan.name)!, START_TIMEOUT_MS))));
        const failed = started.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (error) {
        await stopAll();
        throw error;
      }
      const databaseOf = (module: string) => databases.get(moduleHome.get(module)!)!.url;
      return {
        shop: new ShopClient(urls.get(plans[0]!.name)!),
        ledger: postgresLedger(databaseOf, SHOP_MODULES, () => [...processes.values()].filter((p) => p.process.exitCode === null && p.process.signalCode === null).map((p) => p.url)),
        processes,
        urls,
        databaseOf,
        envOf: (plan) => envs.get(plan)!,
        async restart(plan) {
          const child = await startChildApp(envs.get(plan)!, START_TIMEOUT_MS);
          processes.set(plan, child);
          return child;
        },
        unpublishAll: () => unpublishEverywhere(databaseOf),
        stop: stopAll,
      };
    },
  };
}

/** A gateway running catalog, orders and shipping, and payments in its own process with its own database. */
export const gatewayPlusPayments = (env: Record<string, string> = {}, startLater: readonly string[] = []) =>
  splitTopology(
    'a gateway + payments in its own process and database',
    [
      { name: 'gateway', modules: ['catalog', 'orders', 'shipping'] },
      { name: 'payments', modules: ['payments'] },
    ],
    env,
    startLater,
  );

/** Every module in its own process and database, behind a pure gateway (MODULES=none). */
export const everyModuleApart = (env: Record<string, string> = {}, gatewayEnv: Record<string, string> = {}) =>
  splitTopology(
    'every module in its own process and database, behind a MODULES=none gateway',
    [{ name: 'gateway', modules: [], env: gatewayEnv }, ...SHOP_MODULE_NAMES.map((m) => ({ name: m, modules: [m] }))],
    env,
  );
