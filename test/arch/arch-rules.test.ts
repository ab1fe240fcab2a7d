import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createConfig } from '../../.dependency-cruiser.js';
import { ArchCheckError, runArchCheck } from '../../tools/arch/run-arch-check.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/arch/fixtures');
const fixture = (name: string) => join(FIXTURES, name);

/** Generated per-module rules share one fixture; every other rule has its own, named after it. */
function fixtureOf(rule: string): { fixture: string; expectedRule: string } {
  if (/^module-.+-declared-dependencies$/.test(rule)) return { fixture: 'module-declared-dependencies', expectedRule: 'module-beta-declared-dependencies' };
  return { fixture: rule, expectedRule: rule };
}

const RULES = [...createConfig(ROOT).forbidden.map((r) => r.name), 'module-manifest-cycle', 'module-manifest-unknown-dependency'];

describe('architecture rules prove themselves', () => {
  it('the clean fixture passes', async () => {
    const report = await runArchCheck({ root: fixture('clean') });
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.modulesCruised).toBeGreaterThanOrEqual(9);
  });

  it.each(RULES)('rule %s fails on its fixture, and only that rule', async (rule) => {
    const { fixture: name, expectedRule } = fixtureOf(rule);
    expect(existsSync(fixture(name)), `a fixture test/arch/fixtures/${name} must break rule ${rule}`).toBe(true);
    const report = await runArchCheck({ root: fixture(name) });
    expect(report.ok).toBe(false);
    expect([...new Set(report.violations.map((v) => v.rule))]).toEqual([expectedRule]);
    expect(report.violations[0]!.hint.length).toBeGreaterThan(20);
  });

  it("an extracted service's entries are its main.ts and its events commands' events.ts: both checked for reach, both exempt from declared dependencies", async () => {
    const reach = await runArchCheck({ root: fixture('service-entry-reaches-no-other-implementation') });
    expect([...new Set(reach.violations.map((v) => v.from))].sort()).toEqual(['extracted/alpha/src/events.ts', 'extracted/alpha/src/main.ts']);
    const declared = await runArchCheck({ root: fixture('module-declared-dependencies') });
    expect(declared.violations.map((v) => v.from)).not.toContainEqual(expect.stringMatching(/^extracted\/alpha\/src\//));
  });

  it('a known violation with a reason is tolerated', async () => {
    const report = await runArchCheck({ root: fixture('known-violation-tolerated') });
    expect(report).toMatchObject({ ok: true, violations: [], stale: [] });
    expect(report.tolerated.map((v) => v.rule)).toEqual(['module-beta-declared-dependencies']);
  });

  it('a known violation that no longer occurs is stale and fails the check', async () => {
    const report = await runArchCheck({ root: fixture('known-violation-stale') });
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([]);
    expect(report.stale).toEqual([expect.objectContaining({ rule: 'module-beta-declared-dependencies' })]);
  });

  it('a known violation without a reason is refused', async () => {
    await expect(runArchCheck({ root: fixture('known-violation-without-reason') })).rejects.toThrow(/arch-known-violations\.json: entry 0\.reason/);
  });

  it('fails loudly when TypeScript sources are read by a JavaScript parser', async () => {
    await expect(runArchCheck({ root: fixture('clean'), simulateJavaScriptFallback: true })).rejects.toThrow(ArchCheckError);
    await expect(runArchCheck({ root: fixture('clean'), simulateJavaScriptFallback: true })).rejects.toThrow(/not parsed as TypeScript/);
  });

  it('the project itself passes', async () => {
    const report = await runArchCheck({ root: ROOT });
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.modulesCruised).toBeGreaterThan(50);
  });
});
