import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createApp, defineEvent, listDeadLetters, loadConfig, replayDeadLetter, type App } from '../src/kernel/index.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { messageModules, MessageSentV1, type MessageBuild } from './support/versioned-events/message-modules.js';

// Event versions on the memory bus and PostgreSQL, one process whose code
// changes between runs on the same database: what a deploy does to the
// events its outboxes and dead-letter tables still hold (ADR 0014).

interface Received {
  messageId: string;
  text: string;
  lang: string | null;
  eventVersion: number;
  readAs: number;
}

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 };

describe('event versions on the memory bus (PostgreSQL)', () => {
  let database: TestDatabase;
  let app: App | undefined;
  let url: string;

  async function run(build: MessageBuild, env: Record<string, string> = {}): Promise<void> {
    const config = loadConfig({ PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: database.url, EVENT_RELAY_POLL_MS: '50', ...env });
    app = await createApp({ modules: messageModules(build), config, retry: FAST_RETRY });
    url = (await app.start()).url;
  }

  async function stop(): Promise<void> {
    await app?.stop();
    app = undefined;
  }

  async function send(...texts: string[]): Promise<string[]> {
    const response = await fetch(`${url}/api/sender/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ texts }) });
    expect(response.status).toBe(201);
    return ((await response.json()) as { messages: Array<{ messageId: string }> }).messages.map((m) => m.messageId);
  }

  async function received(): Promise<Received[]> {
    return (await (await fetch(`${url}/api/receiver/received`)).json()) as Received[];
  }

  async function unpublished(): Promise<number> {
    const [row] = await app!.database.forModule('sender').query<{ n: number }>('select count(*)::int as n from outbox where published_at is null');
    return row!.n;
  }

  async function clear(): Promise<void> {
    for (const [schema, tables] of [['sender', ['outbox']], ['receiver', ['received', 'inbox', 'dead_letters']]] as const) {
      for (const table of tables) await app!.database.forModule(schema).query(`delete from ${table}`);
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase('mmk_versions');
  });
  afterEach(async () => {
    // Each test starts from empty tables (the schemas stay: the migrations ran once).
    await stop();
    await run({ sender: 1, receiver: 1 }, { EVENT_RELAY: 'off' });
    await clear();
    await stop();
  });
  afterAll(async () => {
    await stop();
    await database?.drop();
  });

  it('a consumer moved to v2 reads the v1 events left in the outbox (upcast) and replays a v1 dead letter, each once', async () => {
    // The old build: sender and receiver on v1. One message is rejected, so a v1 dead letter exists.
    await run({ sender: 1, receiver: 1, rejectText: 'rejected' });
    const [rejectedId] = await send('rejected');
    await expect.poll(async () => (await listDeadLetters(app!.database, { modules: ['receiver'] })).length, { timeout: 10_000 }).toBe(1);
    await stop();
    // Still the old build, relay off: three v1 events wait in the outbox.
    await run({ sender: 1, receiver: 1 }, { EVENT_RELAY: 'off' });
    const waiting = await send('a', 'b', 'c');
    expect(await unpublished()).toBe(3);
    await stop();

    // The new build: v2 everywhere. The outbox's v1 events reach the v2 reader through the upcaster.
    await run({ sender: 2, receiver: 2 });
    await expect.poll(async () => (await received()).length, { timeout: 10_000 }).toBe(3);
    const [deadLetter] = await listDeadLetters(app!.database, { modules: ['receiver'] });
    expect(deadLetter!.eventVersion).toBe(1);
    const replay = await replayDeadLetter(app!.database, app!.consumers, deadLetter!);
    expect(replay.error).toBeUndefined();
    expect(replay.outcome).toBe('handled');
    const fresh = await send('d');
    await expect.poll(async () => (await received()).length, { timeout: 10_000 }).toBe(5);

    const rows = await received();
    expect(rows.map((r) => [r.messageId, r.text, r.lang, r.eventVersion, r.readAs])).toEqual([
      [waiting[0], 'a', 'en', 1, 2],
      [waiting[1], 'b', 'en', 1, 2],
      [waiting[2], 'c', 'en', 1, 2],
      [rejectedId, 'rejected', 'en', 1, 2],
      [fresh[0], 'd', 'en', 2, 2],
    ]);
    // Replaying again and redelivering everything changes nothing: the inbox holds each once.
    expect((await replayDeadLetter(app!.database, app!.consumers, deadLetter!, { force: true })).outcome).toBe('duplicate');
    await app!.database.forModule('sender').query('update outbox set published_at = null, claimed_until = null');
    await expect.poll(unpublished, { timeout: 10_000 }).toBe(0);
    expect((await received()).length).toBe(5);
    expect(await listDeadLetters(app!.database, { modules: ['receiver'] })).toEqual([]);
  });

  it('a publisher moved to v2 reaches a consumer that still reads v1 through the downcast', async () => {
    await run({ sender: 2, receiver: 1, rejectText: 'rejected' });
    const ids = await send('x', 'y');
    const [rejectedId] = await send('rejected');
    await expect.poll(async () => (await received()).length, { timeout: 10_000 }).toBe(2);
    // The event as it travelled (kept by its dead letter): v2, with the v1 payload the sender's relay downcast.
    await expect.poll(async () => (await listDeadLetters(app!.database, { modules: ['receiver'] })).length, { timeout: 10_000 }).toBe(1);
    const [deadLetter] = await listDeadLetters(app!.database, { modules: ['receiver'] });
    expect(deadLetter!.envelope.version).toBe(2);
    expect(deadLetter!.envelope.payload).toEqual({ messageId: rejectedId, body: { text: 'rejected', lang: 'en' } });
    expect(deadLetter!.envelope.downcasts).toEqual({ 1: { messageId: rejectedId, text: 'rejected' } });
    expect(deadLetter!.error).toBe('receiver rejects "rejected"');
    expect((await received()).map((r) => [r.messageId, r.text, r.lang, r.eventVersion, r.readAs])).toEqual([
      [ids[0], 'x', null, 2, 1],
      [ids[1], 'y', null, 2, 1],
    ]);
    const [row] = await app!.database.forModule('sender').query<{ event_version: number }>('select event_version from outbox limit 1');
    // One outbox row per event, at the publisher's version: the v1 payload travels with it.
    expect(row!.event_version).toBe(2);
  });

  it('an event whose version no upcaster reaches is dead-lettered at once, with a reason that names the missing upcaster', async () => {
    await run({ sender: 1, receiver: 1 }, { EVENT_RELAY: 'off' });
    const [id] = await send('too old');
    await stop();
    // v2 defined without its history: nothing turns a v1 event into a v2 one.
    await run({ sender: 2, receiver: 2, history: 'none' });
    await expect.poll(async () => (await listDeadLetters(app!.database, { modules: ['receiver'] })).length, { timeout: 10_000 }).toBe(1);
    const [deadLetter] = await listDeadLetters(app!.database, { modules: ['receiver'] });
    expect((deadLetter!.envelope.payload as { messageId: string }).messageId).toBe(id);
    expect(deadLetter!.eventVersion).toBe(1);
    expect(deadLetter!.error).toBe(
      'receiver.record-message reads sender.MessageSent@2 and cannot read this v1 event: no upcaster v1 → v2 of sender.MessageSent: its definition in this process (v2) keeps its history down to v2 only',
    );
    // Not retried: a missing upcaster does not appear by trying again.
    expect(deadLetter!.attempts).toBe(1);
    expect(await received()).toEqual([]);
    // The outbox row is done with (its consumer has it as a dead letter), not left to loop.
    expect(await unpublished()).toBe(0);
  });

  it('start-up refuses a consumer its publisher cannot serve, and a definition whose history does not chain', async () => {
    const start = (build: MessageBuild) => createApp({ modules: messageModules(build), config: loadConfig({ PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: database.url }) });
    await expect(start({ sender: 2, receiver: 1, history: 'no-downcast' })).rejects.toThrow(
      'receiver.record-message reads sender.MessageSent@1, which its publisher cannot serve: sender.MessageSent@2 declares no downcast v2 → v1: add one to its from, or move the consumer to v2',
    );
    await expect(start({ sender: 2, receiver: 1, history: 'none' })).rejects.toThrow(
      'receiver.record-message reads sender.MessageSent@1, which its publisher cannot serve: the definition of sender.MessageSent@2 keeps no history below v2: keep v1 as from.previous, with a downcast, while a consumer reads v1',
    );
    await expect(start({ sender: 1, receiver: 2 })).rejects.toThrow(
      'receiver.record-message reads sender.MessageSent@2, which its publisher cannot serve: sender.MessageSent is published at v1 only: define v2 (with its upcast from v1) before a consumer reads it',
    );
    const schema = z.object({ messageId: z.uuid() });
    expect(() => defineEvent('sender.MessageSent', 3, schema, { previous: MessageSentV1, upcast: (v1) => ({ messageId: v1.messageId }) })).toThrow(
      'event sender.MessageSent@3: from.previous must be sender.MessageSent@2, got sender.MessageSent@1',
    );
    expect(() => defineEvent('sender.Other', 2, schema, { previous: MessageSentV1, upcast: (v1) => ({ messageId: v1.messageId }) })).toThrow(
      'event sender.Other@2: from.previous must be sender.Other@1, got sender.MessageSent@1',
    );
  });
});
