import { z } from 'zod';
import type { EventDefinition, ModuleContract } from '../../src/kernel/index.js';
import type { JsonSchema } from './json-schema-node.js';

/** A contract check that cannot run: exit code 2, the message says what to fix. */
export class ContractsError extends Error {
  override readonly name = 'ContractsError';
}

/** A schema as what it accepts when parsing (zod's input view) and what it produces (its output view). */
export interface SchemaViews {
  accepts: JsonSchema;
  produces: JsonSchema;
}

/**
 * One version of a published event. `current` marks the version the module
 * publishes (the definition in its contract's `events`); the others are its
 * history (`from.previous`), with the steps it declares: `upcast` from the
 * version below, `downcast` to it (ADR 0014).
 */
export interface EventVersionSnapshot extends SchemaViews {
  current: boolean;
  upcast: boolean;
  downcast: boolean;
}

/** One module's contract as JSON Schema: what `contracts/<module>.json` holds. */
export interface ModuleSnapshot {
  module: string;
  /** API operations: what the input accepts, what the output produces and what its readers accept. */
  operations: Record<string, { input: JsonSchema; output: SchemaViews }>;
  /** Published events by `name@version`, with the versions of their history. */
  events: Record<string, EventVersionSnapshot>;
  /** Reader schemas by handler name. */
  consumes: Record<string, { event: string; version: number; accepts: JsonSchema }>;
}

/** zod's own conversion, without the `$schema` line (the baseline files name the dialect once). */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output', what: string): JsonSchema {
  let converted: Record<string, unknown>;
  try {
    converted = z.toJSONSchema(schema, { io, unrepresentable: 'throw' }) as Record<string, unknown>;
  } catch (error) {
    throw new ContractsError(
      `${what} cannot be converted to JSON Schema (${(error as Error).message}): contracts must be plain data; move transforms, dates and custom checks out of the contract schema into the implementation`,
    );
  }
  const { $schema: _dialect, ...rest } = converted;
  // The baseline is read back from JSON: compare the same thing now.
  return JSON.parse(JSON.stringify(rest)) as JsonSchema;
}

const views = (schema: z.ZodType, what: string): SchemaViews => ({ accepts: toJsonSchema(schema, 'input', what), produces: toJsonSchema(schema, 'output', what) });

/**
 * A module contract as JSON Schema, in a stable order.
 *
 * @example
 * const snapshot = snapshotContract(catalogContract); // snapshot.operations.getProduct.output.produces
 */
export function snapshotContract(contract: ModuleContract): ModuleSnapshot {
  const m = contract.name;
  const operations = Object.entries(contract.api?.operations ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, op]) => [name, { input: toJsonSchema(op.input, 'input', `${m} operation ${name} input`), output: views(op.output, `${m} operation ${name} output`) }] as const);
  const events = contract.events
    .flatMap((definition) => {
      const versions: Array<readonly [string, EventVersionSnapshot]> = [];
      for (let e: EventDefinition | undefined = definition; e; e = e.from?.previous) {
        const key = `${e.name}@${e.version}`;
        versions.push([key, { ...views(e.schema, `${m} event ${key}`), current: e === definition, upcast: e.from !== undefined, downcast: typeof e.from?.downcast === 'function' }]);
      }
      return versions;
    })
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    // A version listed itself and also reached through a newer one's history is one entry, published.
    .reduce((merged, [key, entry]) => merged.set(key, merged.has(key) ? { ...entry, current: entry.current || merged.get(key)!.current } : entry), new Map<string, EventVersionSnapshot>());
  const consumes = Object.entries(contract.consumes ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([handler, s]) => [handler, { event: s.name, version: s.version, accepts: toJsonSchema(s.schema, 'input', `${m} reader ${handler} of ${s.name}@${s.version}`) }] as const);
  return { module: m, operations: Object.fromEntries(operations), events: Object.fromEntries(events), consumes: Object.fromEntries(consumes) };
}
