import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent } from '../module/contract.js';
import type { EventEnvelope } from './envelope.js';
import { downcastsOf, payloadAtVersion, unservedVersion, versionHistory } from './event-versions.js';

// Three versions of one event: v2 splits the name, v3 makes the amount cents.
const V1 = defineEvent('shop.Paid', 1, z.object({ name: z.string(), amount: z.number() }));
const V2 = defineEvent('shop.Paid', 2, z.object({ first: z.string(), last: z.string(), amount: z.number() }), {
  previous: V1,
  upcast: ({ name, amount }) => ({ first: name.split(' ')[0] ?? '', last: name.split(' ').slice(1).join(' '), amount }),
  downcast: ({ first, last, amount }) => ({ name: `${first} ${last}`, amount }),
});
const V3 = defineEvent('shop.Paid', 3, z.object({ first: z.string(), last: z.string(), cents: z.number().int() }), {
  previous: V2,
  upcast: ({ first, last, amount }) => ({ first, last, cents: Math.round(amount * 100) }),
  downcast: ({ first, last, cents }) => ({ first, last, amount: cents / 100 }),
});

function envelope(version: number, payload: unknown, downcasts?: Record<string, unknown>): EventEnvelope {
  return { id: 'e1', name: 'shop.Paid', version, source: 'shop', payload, correlationId: 'c1', occurredAt: new Date(0).toISOString(), ...(downcasts ? { downcasts } : {}) };
}

describe('event versions', () => {
  it('keeps the history of a definition by version', () => {
    expect([...versionHistory(V3).keys()]).toEqual([3, 2, 1]);
  });

  it('upcasts an old event step by step to the version a consumer reads', () => {
    expect(payloadAtVersion(envelope(1, { name: 'Ada Lovelace', amount: 12.5 }), 3, V3)).toEqual({ ok: true, payload: { first: 'Ada', last: 'Lovelace', cents: 1250 } });
    expect(payloadAtVersion(envelope(1, { name: 'Ada Lovelace', amount: 12.5 }), 2, V3)).toEqual({ ok: true, payload: { first: 'Ada', last: 'Lovelace', amount: 12.5 } });
  });

  it('takes the payload the publisher downcast before converting anything itself', () => {
    const downcasts = downcastsOf(V3, 3, { first: 'Ada', last: 'Lovelace', cents: 1250 }, (reason) => expect.fail(reason));
    expect(downcasts).toEqual({ 2: { first: 'Ada', last: 'Lovelace', amount: 12.5 }, 1: { name: 'Ada Lovelace', amount: 12.5 } });
    // A consumer of an older build: it knows no v3 (no definition at all here), and reads v1 from what travelled with the event.
    expect(payloadAtVersion(envelope(3, { first: 'Ada', last: 'Lovelace', cents: 1250 }, downcasts), 1, undefined)).toEqual({ ok: true, payload: { name: 'Ada Lovelace', amount: 12.5 } });
  });

  it('names the missing step when it cannot convert', () => {
    const withoutHistory = defineEvent('shop.Paid', 3, V3.schema);
    expect(payloadAtVersion(envelope(1, { name: 'Ada', amount: 1 }), 3, withoutHistory)).toEqual({
      ok: false,
      reason: 'no upcaster v1 → v2 of shop.Paid: its definition in this process (v3) keeps its history down to v3 only',
    });
    expect(payloadAtVersion(envelope(3, { first: 'A', last: 'B', cents: 1 }), 2, V2)).toEqual({
      ok: false,
      reason: 'no downcaster v3 → v2 of shop.Paid: this process knows shop.Paid up to v2 only, and the publisher sent no payload at v2',
    });
  });

  it('reports an upcaster that returns what the newer version rejects', () => {
    const Broken = defineEvent('shop.Paid', 2, V2.schema, { previous: V1, upcast: ({ name }) => ({ first: name, last: '', amount: Number.NaN as unknown as number }) });
    const read = payloadAtVersion(envelope(1, { name: 'Ada', amount: 1 }), 2, Broken);
    expect(read.ok).toBe(false);
    expect(!read.ok && read.reason).toMatch(/^the upcaster v1 → v2 of shop\.Paid returned a payload that shop\.Paid@2 rejects: amount: /);
  });

  it('tells which consumer versions a definition serves', () => {
    expect(unservedVersion(V3, 3)).toBeUndefined();
    expect(unservedVersion(V3, 1)).toBeUndefined();
    expect(unservedVersion(V3, 4)).toBe('shop.Paid is published at v3 only: define v4 (with its upcast from v3) before a consumer reads it');
    const upOnly = defineEvent('shop.Paid', 3, V3.schema, { previous: V2, upcast: V3.from!.upcast });
    expect(unservedVersion(upOnly, 2)).toBe('shop.Paid@3 declares no downcast v3 → v2: add one to its from, or move the consumer to v3');
  });
});
