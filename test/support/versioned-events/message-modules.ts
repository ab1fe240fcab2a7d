import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { consumes, defineEvent, defineModule, on, route, type EventDefinition, type EventSubscription } from '../../../src/kernel/index.js';

/**
 * A test-only pair of modules whose one event exists in two versions, so a
 * test can run a publisher and a consumer of different builds side by side
 * (the shop's contracts stay as they are). `sender` publishes
 * `sender.MessageSent`; `receiver` records each message it handles.
 *
 * - v1: `{ messageId, text }`
 * - v2: `{ messageId, body: { text, lang } }` (the text moved: a breaking change, hence a version)
 */
export const MessageSentV1Schema = z.object({ messageId: z.uuid(), text: z.string() });
export const MessageSentV2Schema = z.object({ messageId: z.uuid(), body: z.object({ text: z.string(), lang: z.string() }) });

export const MessageSentV1 = defineEvent('sender.MessageSent', 1, MessageSentV1Schema);

/** How much of its history the v2 definition keeps. */
export type V2History = 'full' | 'no-downcast' | 'none';

export function messageSentV2(history: V2History = 'full'): EventDefinition<typeof MessageSentV2Schema> {
  if (history === 'none') return defineEvent('sender.MessageSent', 2, MessageSentV2Schema);
  return defineEvent('sender.MessageSent', 2, MessageSentV2Schema, {
    previous: MessageSentV1,
    upcast: (v1) => ({ messageId: v1.messageId, body: { text: v1.text, lang: 'en' } }),
    ...(history === 'full' ? { downcast: (v2: z.output<typeof MessageSentV2Schema>) => ({ messageId: v2.messageId, text: v2.body.text }) } : {}),
  });
}

/** One build of the pair: which version the sender publishes and which the receiver reads. */
export interface MessageBuild {
  sender: 1 | 2;
  receiver: 1 | 2;
  history?: V2History;
  /** The receiver's handler throws on this text (a dead letter to replay). */
  rejectText?: string;
}

const readers = {
  1: consumes('sender.MessageSent', 1, MessageSentV1Schema),
  2: consumes('sender.MessageSent', 2, MessageSentV2Schema),
} as const;

export function messageModules(build: MessageBuild) {
  const event: EventDefinition = build.sender === 1 ? MessageSentV1 : messageSentV2(build.history);
  // Either version's reader; the handler tells them apart by their shape.
  const reader = readers[build.receiver] as EventSubscription<z.ZodType<z.output<typeof MessageSentV1Schema> | z.output<typeof MessageSentV2Schema>>>;
  const sender = defineModule({
    name: 'sender',
    events: [event],
    dependsOn: [],
    consumes: {},
    migrationsDir: false,
    setup: ({ db, events }) => ({
      routes: [
        route({
          method: 'post',
          path: '/messages',
          body: z.object({ texts: z.array(z.string()).min(1).max(100) }),
          handler: async ({ body, context }) => {
            const messages = body.texts.map((text) => ({ messageId: randomUUID(), text }));
            const payloads = messages.map((m) => (build.sender === 1 ? m : { messageId: m.messageId, body: { text: m.text, lang: 'en' } }));
            await db.transaction((trx) => events.publishMany(trx, event, payloads), context);
            return { status: 201, body: { messages, version: event.version } };
          },
        }),
      ],
    }),
  });
  const receiver = defineModule({
    name: 'receiver',
    events: [],
    dependsOn: [],
    consumes: { 'record-message': reader },
    migrationsDir: new URL('./migrations/receiver', import.meta.url).pathname,
    setup: ({ db }) => ({
      handlers: [
        on(reader, 'record-message', async (payload, { trx, envelope }) => {
          const { messageId, text, lang } = 'body' in payload ? { messageId: payload.messageId, ...payload.body } : { ...payload, lang: null };
          if (text === build.rejectText) throw new Error(`receiver rejects "${text}"`);
          await trx('received').insert({ message_id: messageId, text, lang, event_version: envelope.version, read_as: build.receiver });
        }),
      ],
      routes: [
        route({
          method: 'get',
          path: '/received',
          handler: async () => {
            const rows = await db.read((k) => k('received').select('message_id', 'text', 'lang', 'event_version', 'read_as').orderBy('seq'));
            return { status: 200, body: rows.map((r: Record<string, unknown>) => ({ messageId: r.message_id, text: r.text, lang: r.lang, eventVersion: r.event_version, readAs: r.read_as })) };
          },
        }),
      ],
    }),
  });
  return [sender, receiver] as const;
}

/** A build from the environment of a child process (`main.ts`): VERSIONED_SENDER, VERSIONED_RECEIVER, VERSIONED_HISTORY. */
export function buildFromEnv(env: NodeJS.ProcessEnv): MessageBuild {
  const version = (name: string): 1 | 2 => {
    const value = env[name];
    if (value !== '1' && value !== '2') throw new Error(`${name} must be 1 or 2, got ${JSON.stringify(value)}`);
    return Number(value) as 1 | 2;
  };
  const history = (env.VERSIONED_HISTORY ?? 'full') as V2History;
  if (!['full', 'no-downcast', 'none'].includes(history)) throw new Error(`VERSIONED_HISTORY must be full, no-downcast or none, got ${history}`);
  return { sender: version('VERSIONED_SENDER'), receiver: version('VERSIONED_RECEIVER'), history };
}
