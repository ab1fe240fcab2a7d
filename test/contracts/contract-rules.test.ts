import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, defineContract, defineEvent, type EventDefinition } from '../../src/kernel/index.js';
import { checkContracts } from '../../tools/contracts/check-contracts.js';
import { CONTRACT_RULES } from '../../tools/contracts/rules.js';
import { snapshotContract, type ModuleSnapshot } from '../../tools/contracts/snapshot.js';
import { BREAKING, COMPATIBLE, type ContractFixture } from './fixtures.js';

/** The baseline as contracts:update writes it and contracts:check reads it back: JSON. */
const baselineOf = (fixture: ContractFixture): ModuleSnapshot[] => JSON.parse(JSON.stringify(fixture.before.map(snapshotContract))) as ModuleSnapshot[];
const check = (fixture: ContractFixture) => checkContracts(baselineOf(fixture), fixture.after.map(snapshotContract));

describe('the contract rules prove themselves', () => {
  it.each(CONTRACT_RULES.map((r) => r.id))('rule %s fails on its fixture, and only that rule', (rule) => {
    const fixture = BREAKING[rule];
    expect(fixture, `test/contracts/fixtures.ts must have a fixture that breaks ${rule}`).toBeDefined();
    const findings = check(fixture);
    expect([...new Set(findings.map((f) => f.rule))]).toEqual([rule]);
    for (const f of findings) {
      expect(f.detail.length).toBeGreaterThan(15);
      expect(f.fix.length).toBeGreaterThan(30);
      expect(f.path).toMatch(/^\$/);
    }
  });

  it('docs/contracts.md documents every rule', () => {
    const docs = readFileSync(new URL('../../docs/contracts.md', import.meta.url), 'utf8');
    for (const rule of CONTRACT_RULES) expect(docs, `docs/contracts.md must document ${rule.id}`).toContain(`| \`${rule.id}\` |`);
  });

  it('a downcast dropped in the change that moves the last consumer to v2 fails: the baseline consumer may not be redeployed yet', () => {
    const V1 = defineEvent('alpha.Happened', 1, z.object({ id: z.string() }));
    const step = { previous: V1, upcast: (v1: { id: string }) => ({ id: v1.id, at: 'unknown' }) };
    const V2 = z.object({ id: z.string(), at: z.string() });
    const publisher = (event: EventDefinition) => defineContract({ name: 'alpha', events: [event], dependsOn: [] });
    const reader = (version: number) => defineContract({ name: 'beta', events: [], dependsOn: [], consumes: { react: consumes('alpha.Happened', version, z.object({ id: z.string() })) } });
    const withDowncast = defineEvent('alpha.Happened', 2, V2, { ...step, downcast: (v2) => ({ id: v2.id }) });
    const fixture = { before: [publisher(withDowncast), reader(1)], after: [publisher(defineEvent('alpha.Happened', 2, V2, step)), reader(2)] };
    expect(check(fixture)).toEqual([
      expect.objectContaining({ module: 'alpha', rule: 'version-downcast-missing', detail: "the baseline's beta.react (a consumer not redeployed yet) reads v1, and alpha.Happened@2 declares no downcast v2 → v1" }),
    ]);
  });

  it('every fixture names a rule that exists', () => {
    expect(Object.keys(BREAKING).sort()).toEqual(CONTRACT_RULES.map((r) => r.id).sort());
  });

  it.each(Object.entries(COMPATIBLE))('%s passes', (_name, fixture) => {
    expect(check(fixture)).toEqual([]);
  });

  it('a finding names the module, the operation or event, and the JSON path', () => {
    expect(check(BREAKING['output-field-removed'])).toEqual([
      expect.objectContaining({ module: 'alpha', subject: 'operation run output', path: '$.stock', rule: 'output-field-removed' }),
    ]);
    expect(check(BREAKING['output-values-widened'])).toEqual([expect.objectContaining({ module: 'alpha', subject: 'event alpha.Happened@1', path: '$.status' })]);
    expect(check(BREAKING['reader-rejects-field'])).toEqual([expect.objectContaining({ module: 'beta', subject: 'reader react of alpha.Happened@1', path: '$.total' })]);
  });

  it('a reader is checked against the baseline publisher too: events it published may still wait in queues', () => {
    // The publisher narrows its payload (compatible) and the reader narrows with it: events of the old publisher may still be negative.
    const publisher = (total: z.ZodType) => defineContract({ name: 'alpha', events: [defineEvent('alpha.Happened', 1, z.object({ total }))], dependsOn: [] });
    const reader = (total: z.ZodType) => defineContract({ name: 'beta', events: [], dependsOn: [], consumes: { react: consumes('alpha.Happened', 1, z.object({ total })) } });
    const fixture = { before: [publisher(z.number().int()), reader(z.number().int())], after: [publisher(z.number().int().min(0)), reader(z.number().int().min(0))] };
    expect(check(fixture)).toEqual([
      expect.objectContaining({ module: 'beta', rule: 'reader-range-narrower', path: '$.total', detail: 'the baseline publisher (alpha) allows any integer, the reader only ≥ 0' }),
    ]);
  });

  it('a baseline reader (a consumer not redeployed yet) is checked against the current publisher', () => {
    const publisher = (note: z.ZodType) => defineContract({ name: 'alpha', events: [defineEvent('alpha.Happened', 1, z.object({ id: z.string(), note }))], dependsOn: [] });
    const reader = (note: z.ZodType) => defineContract({ name: 'beta', events: [], dependsOn: [], consumes: { react: consumes('alpha.Happened', 1, z.object({ note })) } });
    // The publisher's own baseline reads any string, so its output rule passes; beta's old reader reads only up to 10 characters.
    const fixture = { before: [publisher(z.string()), reader(z.string().max(10))], after: [publisher(z.string().max(10).or(z.string().min(200))), reader(z.string())] };
    expect(check(fixture)).toEqual([expect.objectContaining({ module: 'beta', rule: 'reader-length-narrower', detail: expect.stringContaining('the baseline reader only 0–10') })]);
  });
});
