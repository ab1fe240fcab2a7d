import { jsonEqual } from './schema-accepts.js';
import type { ModuleSnapshot } from './snapshot.js';

/** The entries of a snapshot, each with a label and its JSON Schema content. */
function entries(s: ModuleSnapshot): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [name, op] of Object.entries(s.operations)) {
    out.set(`${s.module}: operation ${name} input`, op.input);
    out.set(`${s.module}: operation ${name} output`, op.output);
  }
  for (const [key, views] of Object.entries(s.events)) out.set(`${s.module}: event ${key}`, views);
  for (const [handler, reader] of Object.entries(s.consumes)) out.set(`${s.module}: reader ${handler} of ${reader.event}@${reader.version}`, reader);
  return out;
}

/**
 * What changed from one set of snapshots to the next, one line each:
 * `+` added, `-` removed, `~` changed.
 *
 * @example
 * contractChanges(readBaseline(root), current); // ['~ catalog: operation priceItems input']
 */
export function contractChanges(before: readonly ModuleSnapshot[], after: readonly ModuleSnapshot[]): string[] {
  const [was, is] = [new Map(before.flatMap((s) => [...entries(s)])), new Map(after.flatMap((s) => [...entries(s)]))];
  const lines: string[] = [];
  for (const [label, value] of is) {
    if (!was.has(label)) lines.push(`+ ${label}`);
    else if (!jsonEqual(was.get(label), value)) lines.push(`~ ${label}`);
  }
  for (const label of was.keys()) if (!is.has(label)) lines.push(`- ${label}`);
  return lines;
}
