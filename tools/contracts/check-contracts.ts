import { checkReaders } from './check-readers.js';
import { compareFindings, finding, type Finding } from './findings.js';
import type { ModuleSnapshot } from './snapshot.js';

export type { Finding } from './findings.js';

/** API inputs and outputs, and event payloads (every version kept), against the baseline of the same module. */
function checkModule(base: ModuleSnapshot, now: ModuleSnapshot | undefined): Finding[] {
  const out: Finding[] = [];
  for (const [name, op] of Object.entries(base.operations)) {
    const current = now?.operations[name];
    if (!current) {
      out.push(finding(base.module, `operation ${name}`, 'input-operation-removed', `the baseline has operation ${name}, the current contract ${now ? 'does not' : 'is gone'}`));
      continue;
    }
    out.push(...compareFindings('input', base.module, `operation ${name} input`, op.input, current.input));
    out.push(...compareFindings('output', base.module, `operation ${name} output`, current.output.produces, op.output.accepts));
  }
  for (const [key, views] of Object.entries(base.events)) {
    const current = now?.events[key];
    // An event version no longer published matters to the consumers that read it (the version rules).
    if (current) out.push(...compareFindings('output', base.module, `event ${key}`, current.produces, views.accepts));
  }
  return out;
}

/**
 * The breaking changes from `baseline` to `current`, in every direction;
 * empty when the current contracts are compatible. Throws
 * `UnsupportedSchemaError` on a schema the comparator cannot read.
 *
 * @example
 * const findings = checkContracts(readBaseline(root), contracts.map(snapshotContract));
 */
export function checkContracts(baseline: readonly ModuleSnapshot[], current: readonly ModuleSnapshot[]): Finding[] {
  const byName = new Map(current.map((s) => [s.module, s]));
  const all = [...baseline.flatMap((b) => checkModule(b, byName.get(b.module))), ...checkReaders(baseline, current)];
  // The same reader may break against the current and the baseline publisher alike: say it once.
  const seen = new Set<string>();
  return all.filter((f) => {
    const key = `${f.module}|${f.subject}|${f.path}|${f.rule}`;
    return !seen.has(key) && seen.add(key);
  });
}
