import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { describeModules, eventKey, loadConfig, openDatabase, type App, type ModuleDefinition } from '../../src/kernel/index.js';

/** What the event tables of every module, and the processes' metrics, say at one moment. */
export interface LedgerSnapshot {
  /** Outbox rows per event key (`name@version`), over every module. */
  published: Map<string, number>;
  /** Outbox rows not yet marked published. */
  unpublished: number;
  /** Inbox rows per handler id. */
  inbox: Map<string, number>;
  /** Dead letters not replayed yet, each as `<handler> <event>: <error>`. */
  deadLetters: string[];
  /** Failed handler attempts per handler, summed over the metrics of the processes still running. */
  failedAttempts: Map<string, number>;
}

/**
 * The event bookkeeping of a whole system (one process or several): reads
 * every module's outbox, inbox and dead letters, and the `events_handled_total`
 * counters of its processes.
 */
export interface EventLedger {
  /** Handler id → the event key it consumes, from the modules' descriptions. */
  readonly consumers: ReadonlyMap<string, string>;
  read(): Promise<LedgerSnapshot>;
}

type Query = (sql: string) => Promise<Array<Record<string, unknown>>>;

function consumersOf(modules: readonly ModuleDefinition<any>[]): Map<string, string> {
  return new Map(describeModules(modules).flatMap((m) => m.consumes.map((c) => [c.handler, eventKey({ name: c.event, version: c.version })] as const)));
}

function add(map: Map<string, number>, key: string, n: number): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

/** The failed attempts per handler in one Prometheus text. */
function failedAttemptsIn(text: string, into: Map<string, number>): void {
  for (const m of text.matchAll(/^events_handled_total\{handler="([^"]+)",outcome="failed"\} (\d+)/gm)) add(into, m[1]!, Number(m[2]));
}

async function snapshot(schemas: readonly string[], queryIn: (schema: string) => Query, metricsTexts: () => Promise<string[]>): Promise<LedgerSnapshot> {
  const result: LedgerSnapshot = { published: new Map(), unpublished: 0, inbox: new Map(), deadLetters: [], failedAttempts: new Map() };
  for (const schema of schemas) {
    const query = queryIn(schema);
    const s = `"${schema}"`;
    for (const row of await query(`select event_name || '@' || event_version as key, count(*)::int as n, (count(*) filter (where published_at is null))::int as unpublished from ${s}.outbox group by 1`)) {
      add(result.published, String(row.key), Number(row.n));
      result.unpublished += Number(row.unpublished);
    }
    for (const row of await query(`select handler, count(*)::int as n from ${s}.inbox group by 1`)) add(result.inbox, String(row.handler), Number(row.n));
    for (const row of await query(`select handler, event_name, event_version, error from ${s}.dead_letters where replayed_at is null order by failed_at`)) {
      result.deadLetters.push(`${String(row.handler)} ${String(row.event_name)}@${String(row.event_version)}: ${String(row.error)}`);
    }
  }
  for (const text of await metricsTexts()) failedAttemptsIn(text, result.failedAttempts);
  return result;
}

/** The ledger of an app in this process. */
export function appLedger(app: App, modules: readonly ModuleDefinition<any>[]): EventLedger {
  return {
    consumers: consumersOf(modules),
    read: () =>
      snapshot(
        modules.map((m) => m.name),
        (schema) => (sql) => app.database.forModule(schema).query(sql),
        async () => [await app.metrics.registry.getSingleMetricAsString('events_handled_total')],
      ),
  };
}

/**
 * The ledger of processes on PostgreSQL, one database shared or one per
 * module (`databaseUrl` as a function of the module): the tables are read as
 * the connecting user, the metrics from each running process's `/metrics` (a
 * process that is gone takes its counters with it).
 */
export function postgresLedger(
  databaseUrl: string | ((module: string) => string),
  modules: readonly ModuleDefinition<any>[],
  processUrls: () => readonly string[],
): EventLedger {
  // Each module's tables are read in the database of the process that runs it.
  const urlOf = typeof databaseUrl === 'string' ? () => databaseUrl : databaseUrl;
  return {
    consumers: consumersOf(modules),
    async read() {
      const clients = new Map<string, pg.Client>();
      try {
        for (const module of modules) {
          const url = urlOf(module.name);
          if (!clients.has(url)) {
            const client = new pg.Client({ connectionString: url });
            clients.set(url, client);
            await client.connect();
          }
        }
        return await snapshot(
          modules.map((m) => m.name),
          (schema) => async (sql) => (await clients.get(urlOf(schema))!.query(sql)).rows,
          () => Promise.all(processUrls().map(async (url) => (await fetch(`${url}/metrics`)).text())),
        );
      } finally {
        await Promise.all([...clients.values()].map((c) => c.end()));
      }
    },
  };
}

export interface LedgerExpectations {
  /** A scenario that plants failing handlers allows failed attempts. */
  allowFailures?: boolean;
  /** A scenario that plants poison events allows dead letters (they then stand in for their inbox rows). */
  allowDeadLetters?: boolean;
  timeoutMs?: number;
}

/**
 * Waits until the event flow is settled, then holds it to account: every
 * outbox row published; every handler's inbox holds exactly one row per
 * event it consumes (no event skipped, none processed twice); no dead
 * letters and no failed attempts, unless the scenario planted them.
 */
export async function expectLedgerSettled(ledger: EventLedger, expectations: LedgerExpectations = {}): Promise<LedgerSnapshot> {
  const deadline = Date.now() + (expectations.timeoutMs ?? 20_000);
  for (;;) {
    const snap = await ledger.read();
    // Failures do not go away by waiting: report them at once.
    if (!expectations.allowDeadLetters) expect(snap.deadLetters, 'dead letters').toEqual([]);
    if (!expectations.allowFailures) expect(Object.fromEntries(snap.failedAttempts), 'failed handler attempts (events_handled_total{outcome="failed"})').toEqual({});
    const deadLettersOf = (handler: string) => snap.deadLetters.filter((d) => d.startsWith(`${handler} `)).length;
    const unsettled = [...ledger.consumers].flatMap(([handler, key]) => {
      const expected = snap.published.get(key) ?? 0;
      const settled = (snap.inbox.get(handler) ?? 0) + deadLettersOf(handler);
      return settled === expected ? [] : [`${handler}: ${settled} inbox rows${snap.deadLetters.length > 0 ? ' and dead letters' : ''} for ${expected} ${key} events published`];
    });
    if (snap.unpublished === 0 && unsettled.length === 0) return snap;
    if (Date.now() > deadline) {
      expect({ unpublishedOutboxRows: snap.unpublished, unsettled }, 'the event flow did not settle').toEqual({ unpublishedOutboxRows: 0, unsettled: [] });
    }
    await sleep(100);
  }
}

/**
 * The ledger of a PGlite data folder, which one process at a time may open.
 * The first read scrapes the metrics of the processes holding the folder,
 * calls `release` (which must stop them), then opens the folder; later reads
 * open it again. Read it only once the scenario is over.
 */
export function pgliteLedger(dataDir: string, modules: readonly ModuleDefinition<any>[], holders: { urls: () => readonly string[]; release: () => Promise<void> }): EventLedger {
  let metrics: string[] | undefined;
  return {
    consumers: consumersOf(modules),
    async read() {
      if (metrics === undefined) {
        metrics = await Promise.all(holders.urls().map(async (url) => (await fetch(`${url}/metrics`)).text()));
        await holders.release();
      }
      const database = await openDatabase(loadConfig({ DATA_DIR: dataDir }));
      try {
        return await snapshot(
          modules.map((m) => m.name),
          (schema) => (sql) => database.forModule(schema).query(sql),
          async () => metrics!,
        );
      } finally {
        await database.close();
      }
    },
  };
}
