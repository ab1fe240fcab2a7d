import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Database } from '../src/kernel/index.js';
import { createPgliteDatabase } from '../src/kernel/db/pglite-database.js';
import { createPostgresDatabase } from '../src/kernel/db/postgres-database.js';
import { migrateModule } from '../src/kernel/db/migrator.js';
import { createEventPublisher } from '../src/kernel/events/event-publisher.js';
import { defineEvent } from '../src/kernel/module/contract.js';
import { z } from 'zod';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

const Pinged = defineEvent('probe.Pinged', 1, z.object({ n: z.number() }));

/** What every database handle must do, whichever database is behind it. */
function handleContract(open: () => Promise<Database>) {
  let database: Database;
  beforeAll(async () => {
    database = await open();
    // The kernel tables only: enough for the outbox and the module's role.
    const result = await migrateModule(database, 'probe', null);
    if (result.error) throw result.error;
  });
  afterAll(() => database.close());

  it('a migrations folder that does not exist is a reported error, not "no migrations"', async () => {
    const result = await migrateModule(database, 'probe_missing', '/nonexistent/migrations/probe_missing');
    expect(result.applied).toEqual([]);
    expect(result.error?.message).toBe(
      'migrating schema "probe_missing" failed: migrations folder /nonexistent/migrations/probe_missing does not exist: create it, or set migrationsDir: false if the module has no tables of its own',
    );
  });

  it('query runs plain SQL with $1 parameters in the module schema', async () => {
    const db = database.forModule('probe');
    const rows = await db.query<{ schema: string; n: number }>('select current_schema() as schema, $1::int as n', [41]);
    expect(rows).toEqual([{ schema: 'probe', n: 41 }]);
    // Unqualified names resolve to the module's own tables.
    await expect(db.query('select count(*)::int as c from outbox')).resolves.toEqual([{ c: expect.any(Number) }]);
  });

  it('a bad query rejects with the database error, and the handle keeps working', async () => {
    const db = database.forModule('probe');
    await expect(db.query('select * from no_such_table')).rejects.toThrow(/no_such_table/);
    await expect(db.query('select 1 as one')).resolves.toEqual([{ one: 1 }]);
  });

  it('events published in a transaction carry the context passed to it, or start their own correlation', async () => {
    const db = database.forModule('probe');
    const events = createEventPublisher({ module: 'probe', declared: [Pinged], onCommit: () => undefined });
    const withContext = await db.transaction((trx) => events.publish(trx, Pinged, { n: 1 }), { correlationId: 'req-abc' });
    const without = await db.transaction((trx) => events.publish(trx, Pinged, { n: 2 }));
    const rows = await db.query<{ id: string; correlation_id: string }>('select id, correlation_id from outbox where id = any($1)', [[withContext, without]]);
    const byId = new Map(rows.map((r) => [r.id, r.correlation_id]));
    expect(byId.get(withContext)).toBe('req-abc');
    expect(byId.get(without)).toBe(without);
  });

  it('publishMany writes every event in one go, in order, or none when one payload is invalid', async () => {
    const db = database.forModule('probe');
    const events = createEventPublisher({ module: 'probe', declared: [Pinged], onCommit: () => undefined });
    const ids = await db.transaction((trx) => events.publishMany(trx, Pinged, [{ n: 10 }, { n: 11 }, { n: 12 }]), { correlationId: 'req-many' });
    const rows = await db.query<{ id: string; payload: unknown; correlation_id: string }>('select id, payload, correlation_id from outbox where id = any($1) order by seq', [ids]);
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload))).toEqual([{ n: 10 }, { n: 11 }, { n: 12 }]);
    expect(rows.every((r) => r.correlation_id === 'req-many')).toBe(true);

    const before = (await db.query<{ c: number }>('select count(*)::int as c from outbox'))[0]!.c;
    await expect(db.transaction((trx) => events.publishMany(trx, Pinged, [{ n: 1 }, { n: 'two' } as never]))).rejects.toMatchObject({ code: 'KERNEL.EVENT_INVALID' });
    expect((await db.query<{ c: number }>('select count(*)::int as c from outbox'))[0]!.c).toBe(before);
    await expect(db.transaction((trx) => events.publishMany(trx, Pinged, []))).resolves.toEqual([]);
  });
}

function nestedWork(database: Database): Promise<unknown> {
  const db = database.forModule('probe');
  return db.transaction(() => db.query('select 1'));
}

describe('module database handles on PGlite', () => {
  handleContract(() => createPgliteDatabase({ dataDir: undefined }));

  it('always refuses nested database work (it would wait for itself forever)', async () => {
    const database = await createPgliteDatabase({ dataDir: undefined });
    try {
      await expect(nestedWork(database)).rejects.toMatchObject({ code: 'KERNEL.NESTED_DB_ACCESS', status: 500 });
    } finally {
      await database.close();
    }
  });
});

describe('module database handles on PostgreSQL', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase('mmk_dbh');
  });
  afterAll(() => testDb?.drop());

  describe('handles', () => {
    handleContract(async () => createPostgresDatabase({ url: testDb.url, poolMax: 2 }));

    it('query runs as the module role, pinned by the connection options', async () => {
      const database = createPostgresDatabase({ url: testDb.url, poolMax: 2 });
      try {
        const [row] = await database.forModule('probe').query<{ user: string; path: string }>("select current_user as user, current_setting('search_path') as path");
        expect(row).toEqual({ user: 'mmk_module_probe', path: 'probe' });
      } finally {
        await database.close();
      }
    });
  });

  it('keeps options given in the URL and still pins role and schema', async () => {
    const url = new URL(testDb.url);
    url.searchParams.set('options', '-c statement_timeout=4321');
    const database = createPostgresDatabase({ url: url.toString(), poolMax: 2 });
    try {
      const [row] = await database.forModule('probe').query<{ user: string; path: string; timeout: string }>(
        "select current_user as user, current_setting('search_path') as path, current_setting('statement_timeout') as timeout",
      );
      expect(row).toEqual({ user: 'mmk_module_probe', path: 'probe', timeout: '4321ms' });
    } finally {
      await database.close();
    }
  });

  it('close waits for a transaction in flight, which commits', async () => {
    const database = createPostgresDatabase({ url: testDb.url, poolMax: 2 });
    const db = database.forModule('probe');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const work = db.transaction(async (trx) => {
      await gate;
      await trx.raw("insert into inbox (event_id, handler) values (gen_random_uuid(), 'probe.close-test')");
      return 'committed';
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = database.close();
    release();
    await expect(work).resolves.toBe('committed');
    await expect(closed).resolves.toBeUndefined();
    const check = createPostgresDatabase({ url: testDb.url, poolMax: 1 });
    try {
      expect(await check.forModule('probe').query("select count(*)::int as c from inbox where handler = 'probe.close-test'")).toEqual([{ c: 1 }]);
    } finally {
      await check.close();
    }
  });

  it('refuses nested database work when the check is on', async () => {
    const database = createPostgresDatabase({ url: testDb.url, poolMax: 2, nestingCheck: true });
    try {
      await expect(nestedWork(database)).rejects.toMatchObject({ code: 'KERNEL.NESTED_DB_ACCESS' });
    } finally {
      await database.close();
    }
  });

  it('lets nested work through when the check is off (production default)', async () => {
    const database = createPostgresDatabase({ url: testDb.url, poolMax: 2, nestingCheck: false });
    try {
      await expect(nestedWork(database)).resolves.toEqual([{ '?column?': 1 }]);
    } finally {
      await database.close();
    }
  });
});

describe('DATABASE_NESTING_CHECK', () => {
  it('is on by default, off by default when NODE_ENV=production, and an explicit setting wins', () => {
    expect(loadConfig({}).databaseNestingCheck).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development' }).databaseNestingCheck).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).databaseNestingCheck).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', DATABASE_NESTING_CHECK: 'on' }).databaseNestingCheck).toBe(true);
    expect(loadConfig({ DATABASE_NESTING_CHECK: 'off' }).databaseNestingCheck).toBe(false);
    expect(() => loadConfig({ DATABASE_NESTING_CHECK: 'maybe' })).toThrow(/^Invalid setting DATABASE_NESTING_CHECK: expected "on" or "off"/);
  });

  it('EVENT_RELAY_POLL_MS defaults to 1 s and is validated', () => {
    expect(loadConfig({}).eventRelayPollMs).toBe(1000);
    expect(loadConfig({ EVENT_RELAY_POLL_MS: '250' }).eventRelayPollMs).toBe(250);
    expect(() => loadConfig({ EVENT_RELAY_POLL_MS: '0' })).toThrow(/EVENT_RELAY_POLL_MS/);
  });
});
