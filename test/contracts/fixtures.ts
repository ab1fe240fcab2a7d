import { z } from 'zod';
import { consumes, defineApi, defineContract, defineEvent, type EventDefinition, type EventSubscription, type ModuleContract } from '../../src/kernel/index.js';
import type { ContractRuleId } from '../../tools/contracts/rules.js';

/** A change to a set of contracts: the baseline is taken from `before`, the check runs on `after`. */
export interface ContractFixture {
  before: ModuleContract[];
  after: ModuleContract[];
}

const module = (name: string, parts: Partial<ModuleContract>): ModuleContract => defineContract({ name, events: [], dependsOn: [], ...parts });

/** Module alpha with one operation, `run`. */
const api = (input: z.ZodType, output: z.ZodType = z.object({ ok: z.boolean() })) =>
  module('alpha', { api: defineApi('alpha', { run: { input, output } }) });

/** alpha's `run` changes from one schema to the other: `input` or `output`. */
const change = (side: 'input' | 'output', before: z.ZodType, after: z.ZodType): ContractFixture =>
  side === 'input' ? { before: [api(before)], after: [api(after)] } : { before: [api(z.object({}), before)], after: [api(z.object({}), after)] };

/** alpha publishes `alpha.Happened@1`, which changes; beta reads it through a tolerant reader of one field. */
const event = (before: z.ZodType, after: z.ZodType): ContractFixture => {
  const reader = module('beta', { consumes: { react: consumes('alpha.Happened', 1, z.object({ id: z.string() })) } });
  return { before: [module('alpha', { events: [defineEvent('alpha.Happened', 1, before)] }), reader], after: [module('alpha', { events: [defineEvent('alpha.Happened', 1, after)] }), reader] };
};

/** alpha publishes `payload` as alpha.Happened@1 and beta reads it with `reader`; nothing changes against the baseline. */
const reading = (payload: z.ZodType, reader: z.ZodType, subscription: EventSubscription = consumes('alpha.Happened', 1, reader)): ContractFixture => {
  const contracts = [module('alpha', { events: [defineEvent('alpha.Happened', 1, payload)] }), module('beta', { consumes: { react: subscription } })];
  return { before: contracts, after: contracts };
};

const id = z.string();

const HappenedV1 = defineEvent('alpha.Happened', 1, z.object({ id }));
const V2 = z.object({ id, at: z.string() });
const publishing = (...events: EventDefinition[]) => module('alpha', { events });
const readingAt = (version: number) => module('beta', { consumes: { react: consumes('alpha.Happened', version, z.object({ id })) } });
const upAndDown = defineEvent('alpha.Happened', 2, V2, { previous: HappenedV1, upcast: (v1) => ({ id: v1.id, at: 'unknown' }), downcast: (v2) => ({ id: v2.id }) });
const upOnly = defineEvent('alpha.Happened', 2, V2, { previous: HappenedV1, upcast: (v1) => ({ id: v1.id, at: 'unknown' }) });

/** One fixture per rule: each must fail the check with that rule, and only that rule. */
export const BREAKING: Record<ContractRuleId, ContractFixture> = {
  'input-operation-removed': { before: [api(z.object({}))], after: [module('alpha', { api: defineApi('alpha', {}) })] },
  'input-required-field-added': change('input', z.strictObject({ id }), z.strictObject({ id, coupon: z.string() })),
  'input-field-made-required': change('input', z.object({ id, note: z.string().optional() }), z.object({ id, note: z.string() })),
  'input-field-removed': change('input', z.strictObject({ id, note: z.string() }), z.strictObject({ id })),
  'input-type-narrowed': change('input', z.object({ amount: z.number() }), z.object({ amount: z.number().int() })),
  'input-null-rejected': change('input', z.object({ note: z.string().nullable() }), z.object({ note: z.string() })),
  'input-range-narrowed': change('input', z.object({ quantity: z.number().int().min(1).max(100) }), z.object({ quantity: z.number().int().min(1).max(50) })),
  'input-length-narrowed': change('input', z.object({ items: z.array(id).max(100) }), z.object({ items: z.array(id).max(10) })),
  'input-format-narrowed': change('input', z.object({ contact: z.string() }), z.object({ contact: z.email() })),
  'input-values-narrowed': change('input', z.object({ speed: z.enum(['slow', 'fast']) }), z.object({ speed: z.enum(['slow']) })),
  'output-field-removed': change('output', z.object({ id, stock: z.number().int() }), z.object({ id })),
  'output-field-made-optional': event(z.object({ id, total: z.number() }), z.object({ id, total: z.number().optional() })),
  'output-field-rejected': change('output', z.strictObject({ id }), z.strictObject({ id, extra: z.string() })),
  'output-type-widened': event(z.object({ id, total: z.number().int() }), z.object({ id, total: z.number() })),
  'output-made-nullable': change('output', z.object({ id, name: z.string() }), z.object({ id, name: z.string().nullable() })),
  'output-range-widened': change('output', z.object({ total: z.number().int().min(0) }), z.object({ total: z.number().int() })),
  'output-length-widened': event(z.object({ id, lines: z.array(id).max(10) }), z.object({ id, lines: z.array(id) })),
  'output-format-widened': change('output', z.object({ id: z.uuid() }), z.object({ id: z.string() })),
  'output-values-widened': event(z.object({ id, status: z.enum(['open', 'closed']) }), z.object({ id, status: z.enum(['open', 'closed', 'archived']) })),
  'reader-event-unpublished': reading(z.object({ id }), z.object({ id }), consumes('alpha.Hapened', 1, z.object({ id }))),
  'version-not-published': reading(z.object({ id }), z.object({ id }), consumes('alpha.Happened', 2, z.object({ id }))),
  // alpha moves to v2 without a downcast while beta still reads v1.
  'version-downcast-missing': {
    before: [publishing(HappenedV1), readingAt(1)],
    after: [publishing(defineEvent('alpha.Happened', 2, V2, { previous: HappenedV1, upcast: (v1) => ({ id: v1.id, at: 'unknown' }) })), readingAt(1)],
  },
  // alpha moves to v2 keeping no history, and beta starts reading v2: v1 events still in alpha's outbox reach it unreadable.
  'version-upcaster-missing': { before: [publishing(HappenedV1)], after: [publishing(defineEvent('alpha.Happened', 2, V2)), readingAt(2)] },
  'reader-requires-missing-field': reading(z.object({ id }), z.object({ id, total: z.number() })),
  'reader-requires-optional-field': reading(z.object({ id, total: z.number().optional() }), z.object({ id, total: z.number() })),
  'reader-rejects-field': reading(z.object({ id, total: z.number() }), z.strictObject({ id })),
  'reader-type-narrower': reading(z.object({ total: z.number() }), z.object({ total: z.number().int() })),
  'reader-rejects-null': reading(z.object({ note: z.string().nullable() }), z.object({ note: z.string() })),
  'reader-range-narrower': reading(z.object({ total: z.number().int() }), z.object({ total: z.number().int().min(0) })),
  'reader-length-narrower': reading(z.object({ name: z.string() }), z.object({ name: z.string().max(40) })),
  'reader-format-narrower': reading(z.object({ orderId: z.string() }), z.object({ orderId: z.uuid() })),
  'reader-values-narrower': reading(z.object({ reason: z.enum(['no_wallet', 'insufficient_funds']) }), z.object({ reason: z.enum(['no_wallet']) })),
};

/** Compatible changes: each must pass the check. */
export const COMPATIBLE: Record<string, ContractFixture> = {
  'an optional input field added (strict object)': change('input', z.strictObject({ id }), z.strictObject({ id, coupon: z.string().optional() })),
  'an optional input field added (object)': change('input', z.object({ id }), z.object({ id, coupon: z.string().optional() })),
  'an input field with a default added': change('input', z.strictObject({ id }), z.strictObject({ id, currency: z.string().default('EUR') })),
  'an output field added': change('output', z.object({ id }), z.object({ id, stock: z.number().int() })),
  'an event field added': event(z.object({ id }), z.object({ id, total: z.number() })),
  'an input range widened': change('input', z.object({ quantity: z.number().int().min(1).max(100) }), z.object({ quantity: z.number().int().min(0).max(1000) })),
  'an input length widened': change('input', z.object({ items: z.array(id).min(1).max(100) }), z.object({ items: z.array(id).max(500) })),
  'an input enum widened': change('input', z.object({ speed: z.enum(['slow']) }), z.object({ speed: z.enum(['slow', 'fast']) })),
  'an input made nullable': change('input', z.object({ note: z.string() }), z.object({ note: z.string().nullable() })),
  'an input integer made any number': change('input', z.object({ amount: z.number().int() }), z.object({ amount: z.number() })),
  'an input format dropped': change('input', z.object({ id: z.uuid() }), z.object({ id: z.string() })),
  'an output range narrowed': change('output', z.object({ total: z.number().int() }), z.object({ total: z.number().int().min(0) })),
  'an output optional field made required': change('output', z.object({ id, note: z.string().optional() }), z.object({ id, note: z.string() })),
  'an output enum narrowed': event(z.object({ id, status: z.enum(['open', 'closed']) }), z.object({ id, status: z.enum(['open']) })),
  'a new operation': { before: [api(z.object({}))], after: [module('alpha', { api: defineApi('alpha', { run: { input: z.object({}), output: z.object({ ok: z.boolean() }) }, stop: { input: z.object({}), output: z.object({}) } }) })] },
  'a new event version beside the old one': {
    before: [module('alpha', { events: [defineEvent('alpha.Happened', 1, z.object({ id }))] })],
    after: [module('alpha', { events: [defineEvent('alpha.Happened', 1, z.object({ id })), defineEvent('alpha.Happened', 2, z.object({ id, at: z.string() }))] })],
  },
  'a version bump with upcast and downcast while the consumer reads v1': { before: [publishing(HappenedV1), readingAt(1)], after: [publishing(upAndDown), readingAt(1)] },
  'the consumer moves to v2 while v1 events may remain': { before: [publishing(upAndDown), readingAt(1)], after: [publishing(upAndDown), readingAt(2)] },
  'the downcast dropped once the baseline has no consumer of v1': { before: [publishing(upAndDown), readingAt(2)], after: [publishing(upOnly), readingAt(2)] },
  'the history dropped once v2 is all that was published': { before: [publishing(upOnly), readingAt(2)], after: [publishing(defineEvent('alpha.Happened', 2, V2)), readingAt(2)] },
  'a reader that reads fewer fields': reading(z.object({ id, total: z.number(), note: z.string().nullable() }), z.object({ id })),
  'a reader with looser bounds than the publisher': reading(z.object({ total: z.number().int().min(0), orderId: z.uuid() }), z.object({ total: z.number(), orderId: z.string() })),
  'a discriminated union unchanged': change(
    'output',
    z.discriminatedUnion('kind', [z.object({ kind: z.literal('card'), last4: z.string() }), z.object({ kind: z.literal('wallet'), walletId: id })]),
    z.discriminatedUnion('kind', [z.object({ kind: z.literal('card'), last4: z.string() }), z.object({ kind: z.literal('wallet'), walletId: id })]),
  ),
};
