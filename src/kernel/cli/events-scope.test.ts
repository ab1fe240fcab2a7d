import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from './cli-output.js';
import { EventsScope } from './events-scope.js';

/**
 * Which modules an `events` command may name in one codebase, and the line
 * that sends the operator to the codebase that holds a module's events: an
 * extracted service's (topology file `extracted: true`) or the monolith's.
 */
const dir = mkdtempSync(join(tmpdir(), 'mmk-events-scope-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function topology(modules: Record<string, object>): string {
  const file = join(dir, `topology-${Object.keys(modules).join('-')}.json`);
  writeFileSync(file, JSON.stringify({ modules }));
  return file;
}

const SHOP_FILE = topology({ catalog: { location: 'local' }, orders: { location: 'local' }, payments: { location: 'remote', url: 'http://127.0.0.1:3003', extracted: true } });

/** The scope of a codebase that holds `modules`, the others being contracts; `commandLine` as typed after `--`. */
const scopeOf = (modules: string[], elsewhere: string[], commandLine: string[], file = SHOP_FILE) =>
  EventsScope.of({ modules, elsewhere, commandLine, config: () => ({ topologyFile: undefined }), rootDir: dir, topologyFile: file });

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error instanceof UsageError ? error.message : `not a UsageError: ${String(error)}`;
  }
  return 'no refusal';
};

describe('EventsScope', () => {
  it('selects every module of the codebase, or the one named', () => {
    const scope = scopeOf(['catalog', 'orders'], ['payments'], ['backlog']);
    expect(scope.select(undefined)).toEqual(['catalog', 'orders']);
    expect(scope.select('orders')).toEqual(['orders']);
    expect(refusal(() => scope.select('billing'))).toBe('unknown module "billing" (known modules: catalog, orders)');
  });

  it("refuses an extracted module at the root, naming the service's command with the arguments as typed", () => {
    const scope = scopeOf(['catalog', 'orders'], ['payments'], ['replay', '--all', '--module', 'payments']);
    expect(refusal(() => scope.select('payments'))).toBe("payments is extracted: run npm run events -w extracted/payments -- replay --all --module payments with the service's settings");
  });

  it("refuses, in a service, a module that runs in the monolith, naming the root's command", () => {
    const file = topology({ catalog: { location: 'local' }, payments: { location: 'local', extracted: true } });
    const scope = scopeOf(['payments'], ['catalog'], ['list', '--module', 'catalog', '--limit', '5'], file);
    expect(refusal(() => scope.select('catalog'))).toBe("catalog runs in the monolith: run npm run events -- list --module catalog --limit 5 from the repository root with the monolith's settings");
    expect(scope.extractedNotes()).toEqual([]);
  });

  it('quotes an argument the shell would split', () => {
    const scope = scopeOf(['catalog'], ['payments'], ['republish', '--since', '2026-11-22 02:50', '--module', 'payments']);
    expect(refusal(() => scope.select('payments'))).toContain("-- republish --since '2026-11-22 02:50' --module payments with");
  });

  it('notes each extracted module in the reports over every module', () => {
    expect(scopeOf(['catalog', 'orders'], ['payments'], ['backlog']).extractedNotes()).toEqual([
      "payments is extracted: its outbox and dead letters are in its service's database; run npm run events -w extracted/payments -- backlog with the service's settings",
    ]);
    expect(scopeOf(['catalog', 'orders', 'payments'], [], ['backlog']).extractedNotes()).toEqual([]);
  });

  it('reads the topology file only when a module elsewhere is named, so that other mistakes come first', () => {
    const scope = scopeOf(['catalog'], ['payments'], ['list'], join(dir, 'missing.json'));
    expect(scope.select(undefined)).toEqual(['catalog']);
    expect(() => scope.select('payments')).toThrow(/Invalid topology file: cannot read .*missing\.json/);
  });
});
