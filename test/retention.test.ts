import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createApp, loadConfig, type Database, type ModuleDb } from '../src/kernel/index.js';
import { createPgliteDatabase } from '../src/kernel/db/pglite-database.js';
import { createPostgresDatabase } from '../src/kernel/db/postgres-database.js';
import { migrateModule } from '../src/kernel/db/migrator.js';
import { INBOX_RETENTION_MARGIN_MS, RetentionPurger, type RetentionTable } from '../src/kernel/events/retention.js';
import { probeModule } from './support/probe-module.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const silent = pino({ level: 'silent' });
const HOUR = 3_600_000;
const RETENTION_HOURS = 24;

/** Seeded rows per kind; the batch size of the purgers below does not divide them, so the last batch is a short one. */
const OLD = 23;
const KEPT = 5;

/**
 * Rows of every kind the purger must tell apart, backdated with SQL:
 * old and recent published events, old unpublished ones (claimed or not),
 * inbox records past the retention and its margin, past the retention only,
 * and recent ones, and old dead letters (pending and replayed).
 */
async function seed(db: ModuleDb, retentionHours: number): Promise<void> {
  await db.query('delete from outbox');
  await db.query('delete from inbox');
  await db.query('delete from dead_letters');
  const outbox = `insert into outbox (id, event_name, event_version, payload, correlation_id, occurred_at, claimed_until, published_at)
    select gen_random_uuid(), 'probe.Seeded', 1, '{}'::jsonb, $1, now() - make_interval(hours => $2::int), $3::timestamptz,
           case when $4::boolean then now() - make_interval(hours => $2::int) + interval '1 second' end
      from generate_series(1, $5::int)`;
  // Interleaved in seq order, as a real outbox is: old published, old unpublished, recent, old published again.
  await db.query(outbox, ['old-published', retentionHours + 50, null, true, OLD - 10]);
  await db.query(outbox, ['old-unpublished', retentionHours + 50, null, false, KEPT]);
  await db.query(outbox, ['old-published', retentionHours + 40, null, true, 10]);
  await db.query(outbox, ['old-claimed', retentionHours + 30, new Date(Date.now() + HOUR), false, KEPT]);
  await db.query(outbox, ['recent-published', retentionHours - 1, null, true, KEPT]);
  await db.query(outbox, ['new-unpublished', 0, null, false, KEPT]);

  const inbox = `insert into inbox (event_id, handler, processed_at)
    select gen_random_uuid(), $1, now() - make_interval(secs => $2::float8 / 1000) from generate_series(1, $3::int)`;
  await db.query(inbox, ['probe.old', retentionHours * HOUR + INBOX_RETENTION_MARGIN_MS + HOUR, OLD]);
  // Past the outbox's retention but within the inbox's margin: kept, an event of that age may still be in an outbox.
  await db.query(inbox, ['probe.margin', retentionHours * HOUR + INBOX_RETENTION_MARGIN_MS / 2, KEPT]);
  await db.query(inbox, ['probe.recent', HOUR, KEPT]);

  await db.query(
    `insert into dead_letters (id, event_id, event_name, event_version, handler, envelope, error, attempts, failed_at, replayed_at)
     select gen_random_uuid(), gen_random_uuid(), 'probe.Seeded', 1, 'probe.h' || n, '{}'::jsonb, 'boom', 5,
            now() - interval '1000 hours', case when n % 2 = 0 then now() - interval '900 hours' end
       from generate_series(1, $1::int) as n`,
    [KEPT],
  );
}

interface Counts {
  outbox: Record<string, number>;
  inbox: Record<string, number>;
  deadLetters: number;
}

async function counts(db: ModuleDb): Promise<Counts> {
  const outbox = await db.query<{ k: string; c: number }>('select correlation_id as k, count(*)::int as c from outbox group by 1');
  const inbox = await db.query<{ k: string; c: number }>('select handler as k, count(*)::int as c from inbox group by 1');
  const [dead] = await db.query<{ c: number }>('select count(*)::int as c from dead_letters');
  return {
    outbox: Object.fromEntries(outbox.map((r) => [r.k, r.c])),
    inbox: Object.fromEntries(inbox.map((r) => [r.k, r.c])),
    deadLetters: dead!.c,
  };
}

const SEEDED: Counts = {
  outbox: { 'old-published': OLD, 'old-unpublished': KEPT, 'old-claimed': KEPT, 'recent-published': KEPT, 'new-unpublished': KEPT },
  inbox: { 'probe.old': OLD, 'probe.margin': KEPT, 'probe.recent': KEPT },
  deadLetters: KEPT,
};

const PURGED: Counts = {
  outbox: { 'old-unpublished': KEPT, 'old-claimed': KEPT, 'recent-published': KEPT, 'new-unpublished': KEPT },
  inbox: { 'probe.margin': KEPT, 'probe.recent': KEPT },
  deadLetters: KEPT,
};

/** What the purger must do on any database behind the handle. */
function purgerContract(open: () => Promise<Database>) {
  let database: Database;
  let db: ModuleDb;
  beforeAll(async () => {
    database = await open();
    const result = await migrateModule(database, 'probe', null);
    if (result.error) throw result.error;
    db = database.forModule('probe');
  });
  afterAll(() => database?.close());
  beforeEach(async () => {
    await seed(db, RETENTION_HOURS);
    expect(await counts(db)).toEqual(SEEDED);
  });

  it('purges old published events and old inbox records in batches, and keeps recent ones, unpublished events and dead letters', async () => {
    const purged: Array<[RetentionTable, number]> = [];
    const purger = new RetentionPurger({ db, logger: silent, retentionMs: RETENTION_HOURS * HOUR, batchSize: 7, onPurged: (table, n) => purged.push([table, n]) });
    expect(await purger.purgeOnce()).toEqual({ outbox: OLD, inbox: OLD });
    expect(await counts(db)).toEqual(PURGED);
    // Statements of at most a batch each, the last one short.
    expect(purged).toEqual([
      ['outbox', 7],
      ['outbox', 7],
      ['outbox', 7],
      ['outbox', 2],
      ['inbox', 7],
      ['inbox', 7],
      ['inbox', 7],
      ['inbox', 2],
    ]);
    // A second round finds nothing.
    expect(await purger.purgeOnce()).toEqual({ outbox: 0, inbox: 0 });
    expect(await counts(db)).toEqual(PURGED);
  });

  it('a longer retention keeps what a shorter one purges', async () => {
    const purger = new RetentionPurger({ db, logger: silent, retentionMs: (RETENTION_HOURS + 45) * HOUR });
    // Only the 13 published 50 h past the 24 h mark are older than 69 h; the inbox's old records are 25 h + margin old.
    expect(await purger.purgeOnce()).toEqual({ outbox: OLD - 10, inbox: 0 });
    expect((await counts(db)).outbox['old-published']).toBe(10);
  });

  it('an event made unpublished again (being republished) is kept however old', async () => {
    await db.query(`update outbox set published_at = null where correlation_id = 'old-published'`);
    const purger = new RetentionPurger({ db, logger: silent, retentionMs: RETENTION_HOURS * HOUR });
    expect(await purger.purgeOnce()).toEqual({ outbox: 0, inbox: OLD });
    expect((await counts(db)).outbox['old-published']).toBe(OLD);
  });

  it('goes by when an event occurred: one published again later (republish) goes with the inbox records of its first delivery', async () => {
    // Republished and published again just now: its consumers' inbox records still date from its first delivery, and are purged
    // a margin after it is; kept by its new published_at, the event would outlive them, and a second republish would run it twice.
    await db.query(`update outbox set published_at = now() where correlation_id = 'old-published'`);
    const purger = new RetentionPurger({ db, logger: silent, retentionMs: RETENTION_HOURS * HOUR });
    expect(await purger.purgeOnce()).toEqual({ outbox: OLD, inbox: OLD });
    expect(await counts(db)).toEqual(PURGED);
  });

  it('old unpublished events in front of the outbox do not hold back the published ones behind them', async () => {
    await db.query(`update outbox set occurred_at = now() - interval '1000 hours' where correlation_id = 'old-unpublished'`);
    await db.query(`update outbox set published_at = null, occurred_at = now() - interval '1000 hours' where seq = (select min(seq) from outbox)`);
    const purger = new RetentionPurger({ db, logger: silent, retentionMs: RETENTION_HOURS * HOUR, batchSize: 4 });
    expect(await purger.purgeOnce()).toEqual({ outbox: OLD - 1, inbox: OLD });
    expect(await counts(db)).toEqual({ ...PURGED, outbox: { ...PURGED.outbox, 'old-published': 1 } });
  });
}

describe('retention purger on PostgreSQL', () => {
  let testDb: TestDatabase;
  purgerContract(async () => {
    testDb = await createTestDatabase('mmk_retention');
    return createPostgresDatabase({ url: testDb.url, poolMax: 4 });
  });
  afterAll(() => testDb?.drop());
});

describe('retention purger on PGlite', () => {
  purgerContract(() => createPgliteDatabase({ dataDir: undefined }));
});

describe('purgers of several processes on one database', () => {
  let testDb: TestDatabase;
  const databases: Database[] = [];
  beforeAll(async () => {
    testDb = await createTestDatabase('mmk_retention');
    for (let i = 0; i < 3; i++) databases.push(await createPostgresDatabase({ url: testDb.url, poolMax: 2 }));
    const result = await migrateModule(databases[0]!, 'probe', null);
    if (result.error) throw result.error;
  });
  afterAll(async () => {
    await Promise.all(databases.map((d) => d.close()));
    await testDb?.drop();
  });

  it('purge the same rows at once without an error, and together purge each once', async () => {
    const db = databases[0]!.forModule('probe');
    await seed(db, RETENTION_HOURS);
    // More old rows than a batch, so the purgers' statements overlap.
    await db.query(
      `insert into inbox (event_id, handler, processed_at) select gen_random_uuid(), 'probe.old', now() - make_interval(hours => $1::int) from generate_series(1, 5000)`,
      [RETENTION_HOURS + 2],
    );
    const results = await Promise.all(
      databases.map((d) => new RetentionPurger({ db: d.forModule('probe'), logger: silent, retentionMs: RETENTION_HOURS * HOUR, batchSize: 100 }).purgeOnce()),
    );
    expect(results.reduce((sum, r) => sum + r.outbox, 0)).toBe(OLD);
    expect(results.reduce((sum, r) => sum + r.inbox, 0)).toBe(OLD + 5000);
    expect(await counts(db)).toEqual(PURGED);
  });
});

describe('retention in a running app (PostgreSQL)', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase('mmk_retention');
  });
  afterAll(() => testDb?.drop());

  async function runApp(retention: string | undefined, fn: (db: ModuleDb, logs: string[], metrics: () => Promise<string>) => Promise<void>) {
    const logs: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) }));
    // No relay: it would publish the seeded old unpublished events, which would then go too.
    const config = loadConfig({ PORT: '0', DATABASE_URL: testDb.url, EVENT_RETENTION_HOURS: retention, EVENT_RELAY: 'off' });
    const app = await createApp({ modules: [probeModule([])], config, logger, retention: { intervalMs: 50, batchSize: 10 } });
    try {
      const failed = (await app.migrate()).find((r) => r.error);
      if (failed?.error) throw failed.error;
      const db = app.database.forModule('probe');
      await seed(db, RETENTION_HOURS);
      expect(await counts(db)).toEqual(SEEDED);
      await app.start();
      await fn(db, logs, () => app.metrics.registry.metrics());
    } finally {
      await app.stop();
    }
  }

  it('purges in the background once started, counts the rows in /metrics and logs each purge', async () => {
    await runApp(String(RETENTION_HOURS), async (db, logs, metrics) => {
      await expect.poll(() => counts(db), { timeout: 10_000 }).toEqual(PURGED);
      const text = await metrics();
      expect(text).toContain(`event_rows_purged_total{module="probe",table="outbox"} ${OLD}`);
      expect(text).toContain(`event_rows_purged_total{module="probe",table="inbox"} ${OLD}`);
      const lines = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'purged old events');
      expect(lines).toEqual([expect.objectContaining({ schema: 'probe', outbox: OLD, inbox: OLD, retentionHours: RETENTION_HOURS })]);
      // Rounds that purge nothing log nothing; new old rows go in the next round.
      await db.query(`update outbox set occurred_at = now() - interval '100 hours' where correlation_id = 'recent-published'`);
      await expect.poll(() => counts(db).then((c) => c.outbox['recent-published']), { timeout: 10_000 }).toBeUndefined();
      expect(logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'purged old events')).toHaveLength(2);
    });
  });

  it.each([['0'], ['off']])('EVENT_RETENTION_HOURS=%s purges nothing', async (setting) => {
    await runApp(setting, async (db, _logs, metrics) => {
      // Many rounds' worth of time at the test interval (50 ms).
      await new Promise((done) => setTimeout(done, 1_000));
      expect(await counts(db)).toEqual(SEEDED);
      expect(await metrics()).not.toContain('event_rows_purged_total{');
    });
  });
});

describe('EVENT_RETENTION_HOURS', () => {
  it('defaults to a week, reads hours, and 0 or "off" turn purging off', () => {
    expect(loadConfig({}).eventRetentionHours).toBe(168);
    expect(loadConfig({ EVENT_RETENTION_HOURS: '72' }).eventRetentionHours).toBe(72);
    expect(loadConfig({ EVENT_RETENTION_HOURS: '0' }).eventRetentionHours).toBe(0);
    expect(loadConfig({ EVENT_RETENTION_HOURS: 'off' }).eventRetentionHours).toBe(0);
  });

  it.each(['-1', '1.5', '7d', 'on', '87601'])('refuses %j with one line naming the setting', (value) => {
    expect(() => loadConfig({ EVENT_RETENTION_HOURS: value })).toThrow(ConfigError);
    expect(() => loadConfig({ EVENT_RETENTION_HOURS: value })).toThrow(
      new ConfigError(`Invalid setting EVENT_RETENTION_HOURS: expected a whole number of hours from 1 to 87600, or 0 or "off" to keep every event (got ${JSON.stringify(value)})`),
    );
  });
});
