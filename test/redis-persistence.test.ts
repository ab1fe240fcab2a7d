import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createApp, createLogger, loadConfig, type App } from '../src/kernel/index.js';
import { BullMqTransport } from '../src/kernel/events/bullmq-transport.js';
import { SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../src/app.js';
import { startOwnRedis, type OwnRedis } from './support/own-redis.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { settledSaga } from './support/settled-saga.js';
import { appLedger, expectLedgerSettled } from './support/event-ledger.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

const ROOT = new URL('..', import.meta.url).pathname;
// Each child run starts Node and compiles the app with tsx (seconds on a busy machine).
const CHILD_TIMEOUT = 240_000;

/** Runs a command of the repository (`src/main.ts`, `src/cli/events.ts …`) as a child process; never a shell. */
function run(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'error', ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A pino logger whose lines the test reads. */
function capturedLogger() {
  const lines: Array<{ level: number; msg: string; persistence?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger('warn', stream), lines };
}

describe('REDIS_VOLATILE_OK', () => {
  it('is false by default; production requires Redis persistence unless it is true', () => {
    expect(loadConfig({}).redisPersistenceRequired).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).redisPersistenceRequired).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production' }).redisPersistenceRequired).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', REDIS_VOLATILE_OK: 'false' }).redisPersistenceRequired).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', REDIS_VOLATILE_OK: 'true' }).redisPersistenceRequired).toBe(false);
    expect(() => loadConfig({ REDIS_VOLATILE_OK: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_VOLATILE_OK: 'yes' })).toThrow(/^Invalid setting REDIS_VOLATILE_OK: expected "true" or "false" \(got "yes"\)$/);
  });
});

describe('Redis persistence at start and in /health (a Redis of the test, switched between AOF and none)', () => {
  let redis: OwnRedis;
  let admin: Redis;
  let database: TestDatabase;
  const apps: App[] = [];
  const prefix = testQueuePrefix();

  beforeAll(async () => {
    redis = await startOwnRedis();
    admin = new Redis(redis.url);
    admin.on('error', () => undefined); // the refresh test kills the server under it
    database = await createTestDatabase('mmk_persist');
  });
  afterAll(async () => {
    for (const app of apps) await app.stop().catch(() => undefined);
    admin?.disconnect();
    await redis?.destroy();
    await database?.drop();
  });

  async function boot(env: Record<string, string>): Promise<{ app: App; shop: ShopClient; lines: ReturnType<typeof capturedLogger>['lines'] }> {
    const { logger, lines } = capturedLogger();
    const config = loadConfig({ PORT: '0', DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: redis.url, EVENT_QUEUE_PREFIX: prefix, ...env });
    const app = await createApp({ modules: SHOP_MODULES, config, logger, topologyFile: SHOP_TOPOLOGY_FILE });
    apps.push(app);
    const { url } = await app.start();
    return { app, shop: new ShopClient(url), lines };
  }

  async function stop(app: App): Promise<void> {
    apps.splice(apps.indexOf(app), 1);
    await app.stop();
  }

  it('refuses to start in production on a Redis without AOF: one line on stderr, exit code 1', async () => {
    await admin.config('SET', 'appendonly', 'no');
    const env = { NODE_ENV: 'production', PORT: '0', DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: redis.url, EVENT_QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' };
    const result = await run(['src/main.ts'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `Redis at ${redis.url} (REDIS_URL) keeps no append-only file (appendonly no), so a restart of Redis loses the events waiting in it, which NODE_ENV=production refuses: turn on appendonly yes, or set REDIS_VOLATILE_OK=true to accept the risk`,
    ]);
    // Refused before anything ran: no worker, no listening port.
    expect(result.stdout).not.toMatch(/"msg":"started"/);
  }, CHILD_TIMEOUT);

  it('refuses the same way through createApp, with a ConfigError', async () => {
    await admin.config('SET', 'appendonly', 'no');
    const config = loadConfig({ NODE_ENV: 'production', PORT: '0', DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: redis.url, EVENT_QUEUE_PREFIX: prefix, LOG_LEVEL: 'silent' });
    const app = await createApp({ modules: SHOP_MODULES, config, topologyFile: SHOP_TOPOLOGY_FILE });
    try {
      const started = app.start();
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(/REDIS_VOLATILE_OK=true/);
    } finally {
      await app.stop();
    }
  });

  it('starts in production with REDIS_VOLATILE_OK=true, warns at start, and /health shows persistence "none" with a warning, status up', async () => {
    await admin.config('SET', 'appendonly', 'no');
    const { app, shop, lines } = await boot({ NODE_ENV: 'production', REDIS_VOLATILE_OK: 'true' });
    const warning = lines.find((l) => l.persistence === 'none');
    expect(warning).toMatchObject({ level: 40, msg: expect.stringMatching(/^Redis at redis:\/\/127\.0\.0\.1:\d+ keeps no append-only file \(appendonly no\): .*npm run events -- republish --since <time>$/) });
    const health = await shop.request('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('up');
    expect(health.body.services).toEqual({ database: 'up', eventBus: 'up' });
    expect(health.body.redis).toEqual({ persistence: 'none', warning: warning!.msg });
    await stop(app);
  });

  it('warns outside production without any setting, and says nothing once Redis keeps an append-only file', async () => {
    await admin.config('SET', 'appendonly', 'no');
    const volatile = await boot({});
    expect(volatile.lines.filter((l) => l.persistence === 'none')).toHaveLength(1);
    expect((await volatile.shop.request('GET', '/health')).body.redis.persistence).toBe('none');
    await stop(volatile.app);

    await admin.config('SET', 'appendonly', 'yes');
    // Production, no REDIS_VOLATILE_OK: a Redis with AOF is what it asks for.
    const durable = await boot({ NODE_ENV: 'production' });
    expect(durable.lines.filter((l) => l.persistence !== undefined)).toEqual([]);
    const health = await durable.shop.request('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'up', redis: { persistence: 'aof' } });
    expect(health.body.redis).toEqual({ persistence: 'aof' });
    await stop(durable.app);
  });

  it('says "unknown" when Redis refuses CONFIG (as a managed Redis does), warns, and starts even in production', async () => {
    await admin.config('SET', 'appendonly', 'no');
    // A user that may do everything but CONFIG, as managed Redis services hand out.
    await admin.call('ACL', 'SETUSER', 'kit', 'on', '>kit-password', '~*', '&*', '+@all', '-config');
    try {
      const port = new URL(redis.url).port;
      const { app, shop, lines } = await boot({ NODE_ENV: 'production', REDIS_URL: `redis://kit:kit-password@127.0.0.1:${port}` });
      const warning = lines.find((l) => l.persistence === 'unknown');
      expect(warning?.msg).toMatch(/^cannot tell whether Redis at redis:\/\/kit:\*\*\*@127\.0\.0\.1:\d+ keeps an append-only file \(CONFIG GET appendonly refused: NOPERM/);
      const health = await shop.request('GET', '/health');
      expect(health.status).toBe(200);
      expect(health.body).toMatchObject({ status: 'up', redis: { persistence: 'unknown', warning: warning!.msg } });
      // The password never shows.
      expect(JSON.stringify(health.body)).not.toContain('kit-password');
      await stop(app);
    } finally {
      await admin.call('ACL', 'DELUSER', 'kit');
    }
  });

  it('reads the persistence again when the reading gets old, keeping the last one while Redis does not answer', async () => {
    await admin.config('SET', 'appendonly', 'no');
    const transport = new BullMqTransport({
      redisUrl: redis.url,
      prefix,
      routes: new Map(),
      retry: { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 10 },
      logger: createLogger('silent'),
      durabilityRefreshMs: 50,
    });
    try {
      expect(transport.durability().persistence).toBe('unknown');
      await transport.start();
      expect(transport.durability().persistence).toBe('none');
      await admin.config('SET', 'appendonly', 'yes');
      await expect.poll(() => transport.durability(), { timeout: 5_000, interval: 60 }).toEqual({ persistence: 'aof' });
      await redis.kill();
      for (let i = 0; i < 5; i += 1) {
        expect(transport.durability()).toEqual({ persistence: 'aof' });
        await sleep(60);
      }
    } finally {
      await transport.close();
      await redis.start();
      admin.disconnect();
      admin = new Redis(redis.url);
      admin.on('error', () => undefined);
    }
  });
});

describe('npm run events -- republish (one process on PostgreSQL and BullMQ)', () => {
  let database: TestDatabase;
  let app: App;
  let shop: ShopClient;
  const prefix = testQueuePrefix();
  const env = () => ({ DATABASE_URL: database.url, EVENT_BUS: 'bullmq', REDIS_URL: TEST_REDIS_URL, EVENT_QUEUE_PREFIX: prefix });

  beforeAll(async () => {
    database = await createTestDatabase('mmk_republish');
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', EVENT_RELAY_POLL_MS: '100', ...env() });
    app = await createApp({ modules: SHOP_MODULES, config, topologyFile: SHOP_TOPOLOGY_FILE, retry: { baseDelayMs: 10, maxDelayMs: 100 } });
    shop = new ShopClient((await app.start()).url);
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
    await dropRedisPrefix(TEST_REDIS_URL, prefix).catch(() => undefined);
  });

  const publishedPerModule = async () =>
    Object.fromEntries(
      await Promise.all(
        SHOP_MODULES.map(async (m) => [m.name, Number((await app.database.forModule(m.name).query<{ n: number }>('select count(*)::int as n from outbox where published_at is not null'))[0]!.n)] as const),
      ),
    );
  const duplicates = async () =>
    [...(await app.metrics.registry.getSingleMetricAsString('events_handled_total')).matchAll(/outcome="duplicate"\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);

  it('hands every event published since the time back to the relay; each is delivered again and changes nothing', async () => {
    const since = new Date(Date.now() - 1_000);
    const saga = await settledSaga(shop);
    const ledger = appLedger(app, SHOP_MODULES);
    const settled = await expectLedgerSettled(ledger);
    const published = await publishedPerModule();
    const total = Object.values(published).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(5);
    // Deliveries a republish of a module's events makes: one per event and consuming handler, all of them inbox no-ops.
    const deliveriesOf = (modules: string[]) =>
      [...ledger.consumers].filter(([, key]) => modules.includes(key.split('.')[0]!)).reduce((n, [handler]) => n + (settled.inbox.get(handler) ?? 0), 0);
    let expectedDuplicates = await duplicates();
    // The broker loses what it held (this prefix's keys only): as a Redis restarted empty would. While BullMQ
    // still knows a job, publishing the same events again adds nothing (the job id is derived from them).
    await dropRedisPrefix(TEST_REDIS_URL, prefix);

    // One module: only its rows.
    const one = await run(['src/cli/events.ts', 'republish', '--since', since.toISOString(), '--module', 'orders'], env());
    expect(one.stderr).toBe('');
    expect(one.code).toBe(0);
    expect(one.stdout.split('\n').slice(0, 2)).toEqual([expect.stringMatching(/^MODULE\s+REPUBLISHED$/), expect.stringMatching(new RegExp(`^orders\\s+${published.orders}$`))]);
    expect(one.stdout).toContain(`${published.orders} events published since ${since.toISOString().replace(/\.\d+Z$/, 'Z')} handed back to the relays of 1 module;`);
    await expectLedgerSettled(ledger);
    expectedDuplicates += deliveriesOf(['orders']);
    await expect.poll(duplicates, { timeout: 10_000 }).toBe(expectedDuplicates);

    // Every module, with an age as the time.
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
    const all = await run(['src/cli/events.ts', 'republish', '--since', '10m'], env());
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    const rows = all.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^MODULE\s+REPUBLISHED$/);
    for (const m of SHOP_MODULES) expect(all.stdout).toMatch(new RegExp(`^${m.name}\\s+${published[m.name]}$`, 'm'));
    const publishing = Object.values(published).filter((n) => n > 0).length;
    expect(rows.at(-1)).toMatch(new RegExp(`^${total} events published since .* handed back to the relays of ${publishing} modules; `));

    // The relay publishes them again; every consumer already had them: inbox no-ops, the saga's state unchanged.
    const after = await expectLedgerSettled(ledger);
    expectedDuplicates += deliveriesOf(SHOP_MODULES.map((m) => m.name));
    await expect.poll(duplicates, { timeout: 10_000 }).toBe(expectedDuplicates);
    expect(after.inbox).toEqual(settled.inbox);
    expect(after.published).toEqual(settled.published);
    expect(await saga.state()).toEqual(saga.before);

    // A time after the last publication hands back nothing.
    const none = await run(['src/cli/events.ts', 'republish', '--since', new Date().toISOString()], env());
    expect(none.code).toBe(0);
    expect(none.stdout.trim().split('\n').at(-1)).toMatch(/^0 events published since .* handed back to the relays of 0 modules; /);
  }, CHILD_TIMEOUT);

  it('refuses bad input with one line naming the problem and the fix, exit code 2, touching nothing', async () => {
    const before = await publishedPerModule();
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [[], {}, /^events: republish needs --since <time>: .*an ISO time \(2026-11-22T02:50:00Z\) or an age \(15m, 2h, 1d\)/],
      [['--since', 'yesterday'], {}, /^events: --since "yesterday" is not a time: give an ISO time such as 2026-11-22T02:50:00Z or an age such as 15m, 2h or 1d$/],
      [['--since', '2026-13-45'], {}, /^events: --since "2026-13-45" is not a time: /],
      [['--since', '15x'], {}, /^events: --since "15x" is not a time: /],
      [['--since', '2999-01-01T00:00:00Z'], {}, /^events: --since 2999-01-01T00:00:00\.000Z is in the future: /],
      [['--since', '1h', '--module', 'billing'], {}, /^events: unknown module "billing" \(known modules: catalog, orders, payments, shipping\)$/],
      [['--since', '1h', '--bogus'], {}, /^events: unknown option '--bogus'$/],
      [['--since', '1h'], { EVENT_BUS: 'memory' }, /^events: republish is for EVENT_BUS=bullmq: .*run the command with the settings of the servers/],
      [
        ['--since', '1h', '--module', 'catalog'],
        { MODULES: 'payments', SERVICE_URL_CATALOG: 'http://127.0.0.1:1', SERVICE_URL_ORDERS: 'http://127.0.0.1:1', SERVICE_URL_SHIPPING: 'http://127.0.0.1:1', SERVICE_TOKEN_SECRET: 'x'.repeat(32) },
        /^events: module catalog does not run in this topology \(MODULES\), so its tables are not in this database; run the command with the settings of the process that runs it$/,
      ],
    ];
    const results = await Promise.all(cases.map(([args, extra]) => run(['src/cli/events.ts', 'republish', ...args], { ...env(), ...extra })));
    results.forEach((result, i) => {
      expect({ args: cases[i]![0], code: result.code, stdout: result.stdout }).toEqual({ args: cases[i]![0], code: 2, stdout: '' });
      const lines = result.stderr.trim().split('\n');
      expect(lines, `stderr of republish ${cases[i]![0].join(' ')}`).toHaveLength(1);
      expect(lines[0]).toMatch(cases[i]![2]);
    });
    expect(await publishedPerModule()).toEqual(before);
    expect((await app.database.forModule('orders').query<{ n: number }>('select count(*)::int as n from outbox where published_at is null'))[0]!.n).toBe(0);
  }, CHILD_TIMEOUT);
});
