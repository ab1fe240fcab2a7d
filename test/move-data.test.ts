import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

/**
 * `npm run move-data` against the real PostgreSQL: the copy and its checks,
 * every refusal, closing the source, an interruption by SIGKILL, and the way
 * back. The module's data is made by its own migrations (`npm run migrate`).
 */
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = ['--import', 'tsx', 'src/cli/move-data.ts'];

let source: TestDatabase;
let target: TestDatabase;
const extra: TestDatabase[] = [];

function moveData(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', ...env } });
}

async function sql<R extends pg.QueryResultRow = any>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The shop's schemas in the source, and `wallets` payments rows with some events in the outbox and inbox. */
async function seed(wallets: number): Promise<void> {
  const migrate = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: source.url } });
  expect(migrate.status, migrate.stderr).toBe(0);
  await sql(source.url, `insert into payments.wallets (customer_id, balance_cents) select 'cust-' || g, g * 7 from generate_series(1, ${wallets}) g`);
  await sql(source.url, `insert into payments.outbox (id, event_name, event_version, payload, correlation_id, published_at)
    select gen_random_uuid(), 'payments.PaymentCaptured', 1, jsonb_build_object('n', g), 'corr-' || g, case when g % 2 = 0 then now() end from generate_series(1, 500) g`);
  await sql(source.url, `insert into payments.inbox (event_id, handler) select gen_random_uuid(), 'capture-payment' from generate_series(1, 300)`);
}

const fingerprint = (url: string, table: string) =>
  sql<{ rows: string; sum: string }>(url, `select count(*)::text as rows, coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0)::text as sum from payments.${table} t`).then((r) => r[0]);

beforeEach(async () => {
  source = await createTestDatabase('mmk_move_src');
  target = await createTestDatabase('mmk_move_dst');
});

afterEach(async () => {
  await Promise.all([source.drop(), target.drop()]);
});

afterAll(async () => {
  await Promise.all(extra.map((d) => d.drop()));
});

describe('move-data refuses clearly, exit 2, and changes nothing', () => {
  it('bad input', () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['billing', '--to', target.url], { DATABASE_URL: source.url }, /unknown module "billing": the modules are catalog, orders, payments, shipping/],
      [['payments', '--to', target.url], {}, /no source database: set DATABASE_URL .* or pass --from/],
      [['payments', '--to', target.url, '--from', 'mysql://x@y/z'], {}, /is not a postgres:\/\/ URL/],
      [['payments', '--to', 'not a url'], { DATABASE_URL: source.url }, /--to "not a url" is not a postgres:\/\/ URL/],
      [['payments'], { DATABASE_URL: source.url }, /required option '--to <postgres-url>' not specified/],
    ];
    for (const [args, env, message] of cases) {
      const run = moveData(args, env);
      expect(run.status, run.stderr).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  it('the same database, a source without the schema, a target with a schema of its own, a module still running', async () => {
    const sameDb = moveData(['payments', '--from', source.url, '--to', source.url.replace('127.0.0.1', 'localhost')]);
    expect(sameDb.status).toBe(2);
    // Nothing migrated yet: either refusal names the problem.
    expect(sameDb.stderr).toMatch(/--to names the source database itself|has no schema "payments"/);

    expect(moveData(['payments', '--from', source.url, '--to', target.url]).stderr).toMatch(/has no schema "payments": nothing to move/);

    await seed(10);
    const sameAfterSeed = moveData(['payments', '--from', source.url, '--to', source.url.replace('127.0.0.1', 'localhost')]);
    expect(sameAfterSeed.stderr).toMatch(/--to names the source database itself/);

    await sql(target.url, 'create schema payments; create table payments.mine (id int)');
    const foreign = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(foreign.status).toBe(2);
    expect(foreign.stderr).toMatch(/already has a schema "payments" that move-data did not copy there/);
    await sql(target.url, 'drop schema payments cascade');

    // A process that runs payments has connections named mmk:payments (the kernel's pools do).
    const running = new pg.Client({ connectionString: source.url, application_name: 'mmk:payments' });
    await running.connect();
    try {
      const refused = moveData(['payments', '--from', source.url, '--to', target.url]);
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/1 connection\(s\) of a process that runs payments are open on the source \(pid \d+ from .*\): stop the processes that run payments/);
    } finally {
      await running.end();
    }
    expect(await sql(target.url, "select 1 from information_schema.schemata where schema_name = 'payments'")).toEqual([]);
    expect(await sql(source.url, "select to_regclass('payments.mmk_moved') as t")).toEqual([{ t: null }]);
  });
});

describe('move-data copies, verifies, and closes the source', () => {
  it('every table with its rows, the sequences after the copied rows, the source marked moved and read-only for the module', async () => {
    await seed(5_000);
    const tables = ['wallets', 'payments', 'outbox', 'inbox', 'dead_letters', 'schema_migrations'];
    const before = await Promise.all(tables.map((t) => fingerprint(source.url, t)));
    const run = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/wallets: 5,000 rows copied and verified \(count and checksum\)/);
    // 5,000 wallets, 500 outbox and 300 inbox rows, 3 migrations (the kernel's two and payments' one).
    expect(run.stdout).toMatch(/✔ move-data payments: 6 tables, 5,803 rows moved and verified/);
    expect(await Promise.all(tables.map((t) => fingerprint(target.url, t)))).toEqual(before);

    // New outbox rows in the target continue after the copied ones.
    const [{ max }] = await sql(target.url, 'select max(seq)::int as max from payments.outbox');
    const [{ seq }] = await sql(target.url, "insert into payments.outbox (id, event_name, event_version, payload, correlation_id) values (gen_random_uuid(), 'x', 1, '{}', 'c') returning seq::int");
    expect(seq).toBeGreaterThan(max);

    // The source: marked, and the module's role may no longer write.
    expect(await sql(source.url, 'select moved_to from payments.mmk_moved')).toEqual([{ moved_to: target.url }]);
    const writes = await sql(source.url, "select privilege_type from information_schema.role_table_grants where table_schema = 'payments' and table_name = 'wallets' and grantee = 'mmk_module_payments' order by 1");
    expect(writes.map((w) => w.privilege_type)).toEqual(['SELECT']);

    const again = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/was already moved to .* at .*: move it from there \(--from that database\)/);
  });

  it('a process that would run the module on the old copy refuses to start, naming where the data went', async () => {
    await seed(10);
    expect(moveData(['payments', '--from', source.url, '--to', target.url]).status).toBe(0);
    const start = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, DATABASE_URL: source.url, PORT: '0' } });
    expect(start.status).toBe(1);
    expect(start.stderr.trim().split('\n')).toHaveLength(1);
    expect(start.stderr).toMatch(new RegExp(`Invalid setting DATABASE_URL: module payments's data was moved to ${target.url.replace(/[.?]/g, '\\$&')} at .*; point DATABASE_URL of the process that runs payments there`));
  });

  it('moves back the same way, and the module runs on it again', async () => {
    await seed(100);
    const before = await fingerprint(source.url, 'wallets');
    expect(moveData(['payments', '--from', source.url, '--to', target.url]).status).toBe(0);
    await sql(target.url, "update payments.wallets set balance_cents = balance_cents + 1 where customer_id = 'cust-1'");
    const back = moveData(['payments', '--from', target.url, '--to', source.url]);
    expect(back.stderr).toBe('');
    expect(back.stdout).toMatch(/the target holds an old copy of payments, marked moved to .*: it is replaced/);
    expect(await sql(source.url, "select balance_cents::int as b from payments.wallets where customer_id = 'cust-1'")).toEqual([{ b: 8 }]);
    expect((await fingerprint(source.url, 'wallets'))!.rows).toBe(before!.rows);
    expect(await sql(source.url, "select to_regclass('payments.mmk_moved') as t")).toEqual([{ t: null }]);
    // The module's role writes there again.
    const grants = await sql(source.url, "select privilege_type from information_schema.role_table_grants where table_schema = 'payments' and table_name = 'wallets' and grantee = 'mmk_module_payments' order by 1");
    expect(grants.map((g) => g.privilege_type)).toEqual(['DELETE', 'INSERT', 'SELECT', 'UPDATE']);
  });
});

describe('move-data killed mid-copy', () => {
  it('leaves the target empty and the source unmarked, and a re-run finishes correctly', async () => {
    await seed(400_000);
    const child = spawn(process.execPath, [...CLI, 'payments', '--from', source.url, '--to', target.url], { cwd: ROOT, env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const killed = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        // The progress of the big table: the copy is under way.
        if (/^\s+wallets: [\d,]+ of 400,000 rows, [\d,]+ rows\/s$/.test(line) && child.exitCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    const exit = once(child, 'exit');
    await Promise.race([killed, exit]);
    const [, signal] = (await exit) as [number | null, NodeJS.Signals | null];
    expect(signal, lines.join('\n')).toBe('SIGKILL');
    expect(lines.some((l) => l.includes('target committed'))).toBe(false);
    expect(await sql(target.url, "select 1 from information_schema.schemata where schema_name = 'payments'")).toEqual([]);
    expect(await sql(source.url, "select to_regclass('payments.mmk_moved') as t")).toEqual([{ t: null }]);

    const rerun = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(await fingerprint(target.url, 'wallets')).toEqual(await fingerprint(source.url, 'wallets'));
    expect(await sql(source.url, 'select count(*)::int as n from payments.mmk_moved')).toEqual([{ n: 1 }]);
  });
});

describe('move-data verifies before it closes the source', () => {
  it('a target that loses a row fails the check: exit 1, nothing committed there, the source not marked', async () => {
    await seed(50);
    // A target database that silently drops one row on insert (a trigger added by an event trigger when the table is made).
    await sql(target.url, `
      create function public.lose_cust_3() returns trigger language plpgsql as $$ begin if new.customer_id = 'cust-3' then return null; end if; return new; end $$;
      create function public.add_lossy_trigger() returns event_trigger language plpgsql as $$ begin
        if exists (select 1 from pg_event_trigger_ddl_commands() where object_identity = 'payments.wallets') then
          execute 'create trigger lossy before insert on payments.wallets for each row execute function public.lose_cust_3()';
        end if; end $$;
      create event trigger lossy_wallets on ddl_command_end when tag in ('CREATE TABLE') execute function public.add_lossy_trigger();`);
    const run = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/payments\.wallets did not verify after the copy \(49 rows, checksum -?\d+; the source has 50, -?\d+\): nothing was changed, run move-data again/);
    expect(await sql(target.url, "select 1 from information_schema.schemata where schema_name = 'payments'")).toEqual([]);
    expect(await sql(source.url, "select to_regclass('payments.mmk_moved') as t")).toEqual([{ t: null }]);
  });

  it('killed after the target committed, before the source was marked: a re-run checks the copy and finishes', async () => {
    await seed(200);
    const killed = moveData(['payments', '--from', source.url, '--to', target.url], { MMK_FAULT_POINTS: 'move-data.after-target-commit=kill@1' });
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.stdout).toContain('target committed');
    expect(await sql(source.url, "select to_regclass('payments.mmk_moved') as t")).toEqual([{ t: null }]);
    const rerun = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(rerun.status, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/the target already holds a copy of payments from this source \(an interrupted move\): checking it against the source/);
    expect(await sql(source.url, 'select count(*)::int as n from payments.mmk_moved')).toEqual([{ n: 1 }]);

    // Written to after the copy, the target no longer matches: a re-run from the (unmarked) source refuses instead of losing those writes.
    await sql(source.url, 'drop table payments.mmk_moved');
    await sql(target.url, "update payments.wallets set balance_cents = 1 where customer_id = 'cust-2'");
    const diverged = moveData(['payments', '--from', source.url, '--to', target.url]);
    expect(diverged.status).toBe(2);
    expect(diverged.stderr).toMatch(/the target's payments\.wallets differs from the source .*something wrote to it/);
  });
});

