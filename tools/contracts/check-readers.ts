import { compareFindings, finding, type Finding } from './findings.js';
import type { EventVersionSnapshot, ModuleSnapshot } from './snapshot.js';

/** What one module publishes of one event: every version it knows, and which ones it publishes itself. */
interface Publisher {
  module: string;
  versions: Map<number, EventVersionSnapshot>;
  current: number[];
}

function publishersByName(snapshots: readonly ModuleSnapshot[]): Map<string, Publisher> {
  const byName = new Map<string, Publisher>();
  for (const s of snapshots) {
    for (const [key, entry] of Object.entries(s.events)) {
      const at = key.lastIndexOf('@');
      const [name, version] = [key.slice(0, at), Number(key.slice(at + 1))];
      const p: Publisher = byName.get(name) ?? { module: s.module, versions: new Map(), current: [] };
      p.versions.set(version, entry);
      if (entry.current) p.current.push(version);
      byName.set(name, p);
    }
  }
  return byName;
}

/** The versions an event published at `version` reaches without the consumer's help: itself and its downcasts. */
function downcastsFrom(p: Publisher, version: number): Set<number> {
  const out = new Set([version]);
  for (let v = version; p.versions.get(v)?.downcast && p.versions.has(v - 1); v--) out.add(v - 1);
  return out;
}

const served = (p: Publisher) => new Set(p.current.flatMap((c) => [...downcastsFrom(p, c)]));

/** Why a publisher does not serve `version` (the kernel's start-up check says the same). */
function unserved(name: string, p: Publisher, version: number): string {
  const top = Math.max(...p.current);
  for (let v = top; v > version; v--) {
    const entry = p.versions.get(v)!;
    if (!entry.upcast || !p.versions.has(v - 1)) return `the definition of ${name}@${top} keeps no history below v${v}`;
    if (!entry.downcast) return `${name}@${v} declares no downcast v${v} → v${v - 1}`;
  }
  return `${name}@${top} does not reach v${version}`;
}

/** Whether the consumer's kernel can convert an event of `from` to `to` through the current history (upcasts up, downcasts down). */
function convertible(p: Publisher, from: number, to: number): boolean {
  if (!p.versions.has(from) || !p.versions.has(to)) return false;
  for (let v = from + 1; v <= to; v++) if (!p.versions.get(v)!.upcast) return false;
  for (let v = from; v > to; v--) if (!p.versions.get(v)!.downcast) return false;
  return true;
}

interface Reader {
  module: string;
  handler: string;
  event: string;
  version: number;
  accepts: ModuleSnapshot['consumes'][string]['accepts'];
  /** A reader of the baseline: a consumer that may not be redeployed yet when the publisher is. */
  baseline: boolean;
}

const readersOf = (snapshots: readonly ModuleSnapshot[], baseline: boolean): Reader[] =>
  snapshots.flatMap((s) => Object.entries(s.consumes).map(([handler, r]) => ({ module: s.module, handler, event: r.event, version: r.version, accepts: r.accepts, baseline })));

/**
 * Every consumer's reader against what its publisher serves at the version
 * it reads: the current publisher for the current and the baseline readers
 * (a consumer may be redeployed after its publisher), and the baseline
 * publisher's events (they may still wait in outboxes, queues and dead
 * letters) for the current readers. Versions follow ADR 0014: a publisher
 * serves its version and the older ones its downcasts reach; a consumer's
 * kernel upcasts older events through the publisher's history.
 */
export function checkReaders(baseline: readonly ModuleSnapshot[], current: readonly ModuleSnapshot[]): Finding[] {
  const out: Finding[] = [];
  const [was, is] = [publishersByName(baseline), publishersByName(current)];
  for (const r of [...readersOf(current, false), ...readersOf(baseline, true)]) {
    const key = `${r.event}@${r.version}`;
    const subject = `reader ${r.handler} of ${key}`;
    const who = r.baseline ? `the baseline's ${r.module}.${r.handler} (a consumer not redeployed yet)` : `${r.module}.${r.handler}`;
    const p = is.get(r.event);
    if (!p) {
      if (!r.baseline) out.push(finding(r.module, subject, 'reader-event-unpublished', `no module publishes ${r.event}${was.has(r.event) ? ' any more' : ''}`));
      continue;
    }
    const top = Math.max(...p.current);
    if (!served(p).has(r.version)) {
      if (r.version > top) {
        if (!r.baseline) out.push(finding(r.module, subject, 'version-not-published', `${p.module} publishes ${r.event} up to v${top}: nothing produces v${r.version}, and no upcaster reaches it`));
      } else {
        out.push(finding(p.module, `event ${r.event}@${top}, read at v${r.version} by ${r.module}.${r.handler}`, 'version-downcast-missing', `${who} reads v${r.version}, and ${unserved(r.event, p, r.version)}`));
      }
      continue;
    }
    const names = { writer: `publisher (${p.module})`, reader: r.baseline ? 'baseline reader' : 'reader' };
    out.push(...compareFindings('reader', r.module, subject, p.versions.get(r.version)!.produces, r.accepts, names));
    const old = was.get(r.event);
    if (r.baseline || !old) continue;
    if (served(old).has(r.version)) {
      out.push(...compareFindings('reader', r.module, subject, old.versions.get(r.version)!.produces, r.accepts, { writer: `baseline publisher (${old.module})`, reader: 'reader' }));
    }
    for (const b of old.current) {
      if (downcastsFrom(old, b).has(r.version) || convertible(p, b, r.version)) continue;
      out.push(
        finding(
          p.module,
          `event ${r.event}@${b}, read at v${r.version} by ${r.module}.${r.handler}`,
          'version-upcaster-missing',
          `${r.event}@${b} events published before this change may still wait in outboxes, queues and dead letters, ${who} reads v${r.version}, and the current history of ${r.event} (v${Math.min(...p.versions.keys())}–v${top}) has no step from v${b}`,
        ),
      );
    }
  }
  return out;
}
