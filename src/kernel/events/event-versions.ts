import type { EventDefinition } from '../module/contract.js';
import type { EventEnvelope } from './envelope.js';

/** A payload read at the version a consumer reads, or why it cannot be. */
export type VersionedRead = { ok: true; payload: unknown } | { ok: false; reason: string };

/**
 * The definitions of an event's version history by version: the definition
 * itself and each `from.previous` down to the oldest one it still serves.
 *
 * @example
 * versionHistory(MessageSent); // Map { 2 => MessageSent, 1 => MessageSentV1 }
 */
export function versionHistory(definition: EventDefinition): Map<number, EventDefinition> {
  const history = new Map<number, EventDefinition>();
  for (let d: EventDefinition | undefined = definition; d; d = d.from?.previous) history.set(d.version, d);
  return history;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs one step's function and validates what it returns with the target version's schema. */
function step(name: string, from: number, to: number, run: () => unknown, target: EventDefinition): VersionedRead {
  let out: unknown;
  try {
    out = run();
  } catch (error) {
    return { ok: false, reason: `the ${from < to ? 'upcaster' : 'downcaster'} v${from} → v${to} of ${name} threw: ${describe(error)}` };
  }
  const parsed = target.schema.safeParse(out);
  if (!parsed.success) return { ok: false, reason: `the ${from < to ? 'upcaster' : 'downcaster'} v${from} → v${to} of ${name} returned a payload that ${name}@${to} rejects: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  return { ok: true, payload: parsed.data };
}

/** Parses a payload with the schema of its own version, so the step functions get what their types promise. */
function parseAt(name: string, payload: unknown, at: EventDefinition): VersionedRead {
  const parsed = at.schema.safeParse(payload);
  return parsed.success ? { ok: true, payload: parsed.data } : { ok: false, reason: `its payload does not match ${name}@${at.version}` };
}

/**
 * Walks the history from `from` to `to` (up with `upcast`, down with
 * `downcast`), validating each step's result; the reason of a failure names
 * the missing or failing step.
 */
export function convert(definition: EventDefinition, payload: unknown, from: number, to: number): VersionedRead {
  const { name } = definition;
  const history = versionHistory(definition);
  const start = history.get(from);
  if (!start) {
    const oldest = Math.min(...history.keys());
    return from < oldest
      ? { ok: false, reason: `no upcaster v${from} → v${from + 1} of ${name}: its definition in this process (v${definition.version}) keeps its history down to v${oldest} only` }
      : { ok: false, reason: `no downcaster v${from} → v${to} of ${name}: this process knows ${name} up to v${definition.version} only, and the publisher sent no payload at v${to}` };
  }
  let read = parseAt(name, payload, start);
  for (let v = from; read.ok && v !== to; v += from < to ? 1 : -1) {
    const current = read.payload;
    if (from < to) {
      const next = history.get(v + 1);
      if (!next) return { ok: false, reason: `no upcaster v${v} → v${v + 1} of ${name}: this process knows ${name} up to v${definition.version} only` };
      read = step(name, v, v + 1, () => next.from!.upcast(current), next);
    } else {
      const down = history.get(v)!.from;
      if (!down?.downcast) return { ok: false, reason: `no downcaster v${v} → v${v - 1} of ${name}: its definition declares no downcast` };
      read = step(name, v, v - 1, () => down.downcast!(current), down.previous);
    }
  }
  return read;
}

/**
 * The payload of `envelope` at `version`, the version a consumer reads: the
 * payload itself at that version; else the one the publisher downcast to it;
 * else converted here through `definition` (the publisher's definition as
 * this process knows it): upcast for an older event, downcast for a newer one.
 *
 * @example
 * const read = payloadAtVersion(envelope, 2, MessageSent);
 * if (!read.ok) throw new Error(read.reason); // e.g. "no upcaster v1 → v2 of sender.MessageSent: ..."
 */
export function payloadAtVersion(envelope: EventEnvelope, version: number, definition: EventDefinition | undefined): VersionedRead {
  if (envelope.version === version) return { ok: true, payload: envelope.payload };
  const downcast = envelope.downcasts?.[String(version)];
  if (downcast !== undefined) return { ok: true, payload: downcast };
  if (!definition) return { ok: false, reason: `no definition of ${envelope.name} in this process to convert v${envelope.version} to v${version}` };
  return convert(definition, envelope.payload, envelope.version, version);
}

/**
 * What the publisher's relay attaches to an event (`EventEnvelope.downcasts`):
 * the payload of a `version` event at each older version its definition's
 * downcasts reach, one step after the other. Undefined when there is none; a failing step ends the
 * chain there and is reported through `onError`.
 */
export function downcastsOf(definition: EventDefinition, version: number, payload: unknown, onError: (reason: string) => void): Record<string, unknown> | undefined {
  let result: Record<string, unknown> | undefined;
  const at = versionHistory(definition).get(version);
  for (let d = at; d?.from?.downcast; d = d.from.previous) {
    const read = convert(definition, payload, d.version, d.version - 1);
    if (!read.ok) {
      onError(read.reason);
      break;
    }
    payload = read.payload;
    (result ??= {})[String(d.version - 1)] = payload;
  }
  return result;
}

/**
 * Why a consumer of `version` cannot be served by a publisher at
 * `definition`, or undefined when it can: the same version, or an older one
 * its downcasts reach. Checked at start for every consumer of the system.
 */
export function unservedVersion(definition: EventDefinition, version: number): string | undefined {
  const { name } = definition;
  if (version === definition.version) return undefined;
  if (version > definition.version) return `${name} is published at v${definition.version} only: define v${version} (with its upcast from v${version - 1}) before a consumer reads it`;
  for (let d: EventDefinition | undefined = definition; d && d.version > version; d = d.from?.previous) {
    if (!d.from) return `the definition of ${name}@${definition.version} keeps no history below v${d.version}: keep v${d.version - 1} as from.previous, with a downcast, while a consumer reads v${version}`;
    if (!d.from.downcast) return `${name}@${d.version} declares no downcast v${d.version} → v${d.version - 1}: add one to its from, or move the consumer to v${definition.version}`;
  }
  return undefined;
}
