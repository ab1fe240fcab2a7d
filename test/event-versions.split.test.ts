import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { freePort, TEST_SERVICE_SECRET } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

// Event versions deployed in any order, in a split topology: the sender and
// the receiver each in its own child process with its own database, on
// BullMQ and the shared Redis. Each process runs a build of the test-only
// pair in test/support/versioned-events (VERSIONED_SENDER / VERSIONED_RECEIVER
// say which version that build's sender publishes and its receiver reads),
// so a test can run builds of different ages side by side, as a rolling
// deploy does, while the shop's contracts stay as they are (ADR 0014).

const ROOT = new URL('..', import.meta.url).pathname;
const ENTRY = { command: process.execPath, args: ['--import', 'tsx', 'test/support/versioned-events/main.ts'], cwd: ROOT };
const QUEUE = 'receiver.record-message';

type Role = 'sender' | 'receiver';
interface Build {
  sender: 1 | 2;
  receiver: 1 | 2;
}
interface Received {
  message_id: string;
  text: string;
  lang: string | null;
  event_version: number;
  read_as: number;
}

/** Two processes, one per module, that a test stops and starts again with other builds. */
class VersionedPair {
  readonly prefix = testQueuePrefix();
  readonly #databases = new Map<Role, TestDatabase>();
  readonly #ports = new Map<Role, number>();
  readonly #running = new Map<Role, ChildApp>();
  readonly #started: ChildApp[] = [];

  async init(): Promise<void> {
    for (const role of ['sender', 'receiver'] as const) {
      this.#databases.set(role, await createTestDatabase('mmk_versions_split'));
      this.#ports.set(role, await freePort());
    }
  }

  async start(role: Role, build: Build, env: Record<string, string> = {}): Promise<ChildApp> {
    const other: Role = role === 'sender' ? 'receiver' : 'sender';
    const child = await startChildApp(
      {
        PORT: String(this.#ports.get(role)),
        DATABASE_URL: this.#databases.get(role)!.url,
        EVENT_BUS: 'bullmq',
        REDIS_URL: TEST_REDIS_URL,
        EVENT_QUEUE_PREFIX: this.prefix,
        MODULES: role,
        [`SERVICE_URL_${other.toUpperCase()}`]: `http://127.0.0.1:${this.#ports.get(other)}`,
        SERVICE_TOKEN_SECRET: TEST_SERVICE_SECRET,
        EVENT_RELAY_POLL_MS: '200',
        DATABASE_POOL_MAX: '3',
        VERSIONED_SENDER: String(build.sender),
        VERSIONED_RECEIVER: String(build.receiver),
        ...env,
      },
      120_000,
      ENTRY,
    );
    this.#started.push(child);
    this.#running.set(role, child);
    return child;
  }

  /** SIGKILL, as a deploy that replaces a crashed or drained process would find it. */
  async kill(role: Role): Promise<void> {
    await this.#running.get(role)?.kill('SIGKILL');
    this.#running.delete(role);
  }

  async send(...texts: string[]): Promise<Array<{ messageId: string; text: string }>> {
    const url = this.#running.get('sender')!.url;
    const response = await fetch(`${url}/api/sender/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts }) });
    expect(response.status).toBe(201);
    return ((await response.json()) as { messages: Array<{ messageId: string; text: string }> }).messages;
  }

  async query<T>(role: Role, sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: this.#databases.get(role)!.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  received(): Promise<Received[]> {
    return this.query<Received>('receiver', 'select message_id, text, lang, event_version, read_as from receiver.received order by seq');
  }

  async count(role: Role, table: string, where = 'true'): Promise<number> {
    return Number((await this.query<{ n: number }>(role, `select count(*)::int as n from ${role}.${table} where ${where}`))[0]!.n);
  }

  /** The versions of the events waiting in the receiver's queue, read from the jobs BullMQ holds in Redis. */
  async waitingVersions(): Promise<number[]> {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const ids = await redis.lrange(`${this.prefix}:${QUEUE}:wait`, 0, -1);
      const versions: number[] = [];
      for (const id of ids) {
        const data = JSON.parse((await redis.hget(`${this.prefix}:${QUEUE}:${id}`, 'data')) ?? '{}') as { envelopes?: Array<{ version: number }> };
        versions.push(...(data.envelopes ?? []).map((e) => e.version));
      }
      return versions.sort();
    } finally {
      redis.disconnect();
    }
  }

  async stop(): Promise<void> {
    // Every child this pair ever started, each by its pid; then its databases and Redis keys.
    await Promise.all(this.#started.map((child) => child.kill('SIGKILL')));
    await Promise.all([...this.#databases.values()].map((d) => d.drop()));
    await dropRedisPrefix(TEST_REDIS_URL, this.prefix).catch(() => undefined);
  }
}

/** Every message received exactly once, as sent; and nothing dead-lettered. */
async function expectEachOnce(pair: VersionedPair, sent: ReadonlyArray<{ messageId: string; text: string }>): Promise<Received[]> {
  await expect.poll(async () => (await pair.received()).length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(sent.length);
  const rows = await pair.received();
  expect(rows.map((r) => r.message_id).sort()).toEqual(sent.map((m) => m.messageId).sort());
  const byId = new Map(rows.map((r) => [r.message_id, r]));
  for (const m of sent) expect(byId.get(m.messageId)!.text).toBe(m.text);
  expect(await pair.count('receiver', 'inbox')).toBe(sent.length);
  expect(await pair.count('receiver', 'dead_letters')).toBe(0);
  return rows;
}

describe('event versions deployed in any order (sender and receiver in their own processes and databases, BullMQ)', () => {
  let pair: VersionedPair | undefined;
  afterEach(async () => {
    await pair?.stop();
    pair = undefined;
  });

  it('v1 events left in the queue and in the outbox, then the receiver moved to v2 (sender still v1): each handled once, none dead-lettered', async () => {
    pair = new VersionedPair();
    await pair.init();
    const old = { sender: 1, receiver: 1 } as const;
    const next = { sender: 2, receiver: 2 } as const;
    await pair.start('sender', old);
    await pair.start('receiver', old);
    const before = await pair.send('before 1', 'before 2', 'before 3');
    await expect.poll(async () => (await pair!.received()).length, { timeout: 30_000 }).toBe(3);

    // The receiver goes down for its upgrade: what the v1 sender publishes meanwhile waits in its queue.
    await pair.kill('receiver');
    const queued = await pair.send('queued 1', 'queued 2', 'queued 3', 'queued 4');
    await expect.poll(() => pair!.count('sender', 'outbox', 'published_at is null'), { timeout: 30_000 }).toBe(0);
    expect(await pair.waitingVersions()).toEqual([1, 1, 1, 1]);
    // And the sender restarts without its relay (a deploy caught mid-way): v1 events wait in its outbox too.
    await pair.kill('sender');
    await pair.start('sender', old, { EVENT_RELAY: 'off' });
    const outboxed = await pair.send('outboxed 1', 'outboxed 2', 'outboxed 3');
    expect(await pair.count('sender', 'outbox', 'published_at is null and event_version = 1')).toBe(3);
    await pair.kill('sender');

    // The receiver's new build reads v2: it drains the v1 events of its queue through the upcaster.
    await pair.start('receiver', next);
    await expect.poll(async () => (await pair!.received()).length, { timeout: 60_000 }).toBe(7);
    // The old sender comes back with its relay: its outbox's v1 events go out, and so do its new ones.
    await pair.start('sender', old);
    const later = await pair.send('later 1', 'later 2');
    await expect.poll(async () => (await pair!.received()).length, { timeout: 60_000 }).toBe(12);
    // Last, the sender moves to v2 too.
    await pair.kill('sender');
    await pair.start('sender', next);
    const upgraded = await pair.send('upgraded 1', 'upgraded 2');

    const rows = await expectEachOnce(pair, [...before, ...queued, ...outboxed, ...later, ...upgraded]);
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    const shape = (ids: ReadonlyArray<{ messageId: string }>) => ids.map((m) => byId.get(m.messageId)!).map((r) => [r.event_version, r.read_as, r.lang]);
    expect(shape(before)).toEqual(before.map(() => [1, 1, null]));
    // Published as v1, read as v2: upcast (the upcaster sets lang "en").
    expect(shape([...queued, ...outboxed, ...later])).toEqual([...queued, ...outboxed, ...later].map(() => [1, 2, 'en']));
    expect(shape(upgraded)).toEqual(upgraded.map(() => [2, 2, 'en']));
  }, 300_000);

  it('the sender moved to v2 while the receiver still reads v1, whatever the sender believes it reads: each handled once, none dead-lettered', async () => {
    pair = new VersionedPair();
    await pair.init();
    // The sender's new build publishes v2; in its view the receiver still reads v1 (so its downcast is required at start).
    await pair.start('sender', { sender: 2, receiver: 1 });
    await pair.start('receiver', { sender: 1, receiver: 1 });
    const first = await pair.send('first 1', 'first 2', 'first 3');
    await expect.poll(async () => (await pair!.received()).length, { timeout: 30_000 }).toBe(3);

    // The receiver is down; a later sender build believes the receiver reads v2 already. Its v2 events still carry v1.
    await pair.kill('receiver');
    const queued = await pair.send('queued 1', 'queued 2');
    await pair.kill('sender');
    await pair.start('sender', { sender: 2, receiver: 2 });
    queued.push(...(await pair.send('queued 3', 'queued 4')));
    await expect.poll(() => pair!.count('sender', 'outbox', 'published_at is null'), { timeout: 30_000 }).toBe(0);
    expect(await pair.waitingVersions()).toEqual([2, 2, 2, 2]);
    // The receiver comes back on its old build (v1 only): it reads the v1 payloads the sender downcast.
    await pair.start('receiver', { sender: 1, receiver: 1 });
    await expect.poll(async () => (await pair!.received()).length, { timeout: 60_000 }).toBe(7);
    // Then the receiver moves to v2.
    await pair.kill('receiver');
    await pair.start('receiver', { sender: 2, receiver: 2 });
    const last = await pair.send('last 1', 'last 2');

    const rows = await expectEachOnce(pair, [...first, ...queued, ...last]);
    const byId = new Map(rows.map((r) => [r.message_id, r]));
    const shape = (ids: ReadonlyArray<{ messageId: string }>) => ids.map((m) => byId.get(m.messageId)!).map((r) => [r.event_version, r.read_as, r.lang]);
    // Published as v2, read as v1 (no lang in v1): downcast by the sender.
    expect(shape([...first, ...queued])).toEqual([...first, ...queued].map(() => [2, 1, null]));
    expect(shape(last)).toEqual(last.map(() => [2, 2, 'en']));
    // One outbox row per event, at v2: the v1 payload travelled with it, not as a second event.
    expect(await pair.count('sender', 'outbox')).toBe(9);
    expect(await pair.count('sender', 'outbox', 'event_version = 2')).toBe(9);
  }, 300_000);
});
