import { acceptsValue, branchAccepts, isMultiple, jsonEqual } from './schema-accepts.js';
import { readNode, resolveRef, UnsupportedSchemaError, type ArrayBranch, type Branch, type JsonSchema, type NumberBranch, type ObjectBranch, type StringBranch } from './json-schema-node.js';

/** What kind of value the writer may send that the reader rejects. */
export type DifferenceKind = 'field-missing' | 'field-optional' | 'field-rejected' | 'type' | 'null' | 'range' | 'length' | 'format' | 'values';

export interface Difference {
  kind: DifferenceKind;
  /** JSON path in the payload: `$`, `$.items[].quantity`. */
  path: string;
  /** What the writer may send and why the reader rejects it, in one sentence. */
  detail: string;
}

/** How the two sides are called in the sentences of a difference. */
export interface SideNames {
  writer: string;
  reader: string;
}

type Union = { kind: 'any' } | { kind: 'union'; branches: Branch[] };

const keyPath = (path: string, key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`);
const show = (value: unknown) => JSON.stringify(value);
const typeOfValue = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);
const branchType = (b: Branch) => (b.type === 'values' ? b.values.map(typeOfValue).join('/') : b.type);

function bound(side: NumberBranch['min'], integer: boolean, lower: boolean): number {
  if (!integer || !Number.isFinite(side.value)) return side.value;
  if (lower) return side.exclusive ? Math.floor(side.value) + 1 : Math.ceil(side.value);
  return side.exclusive ? Math.ceil(side.value) - 1 : Math.floor(side.value);
}

// zod bounds every integer by the safe range: say "any integer" rather than print those bounds.
const unbounded = (value: number) => !Number.isFinite(value) || Math.abs(value) >= Number.MAX_SAFE_INTEGER;

function showRange(b: NumberBranch): string {
  const low = unbounded(b.min.value) ? '' : `${b.min.exclusive ? '>' : '≥'} ${b.min.value}`;
  const high = unbounded(b.max.value) ? '' : `${b.max.exclusive ? '<' : '≤'} ${b.max.value}`;
  return [low, high].filter(Boolean).join(' and ') || `any ${b.type}`;
}

/**
 * Whether every value `writer` allows is one `reader` accepts, as the list of
 * differences that say otherwise (empty when it holds). The writer is what
 * sends (a caller's input as the baseline accepted it, a publisher's payload),
 * the reader what parses it. Throws `UnsupportedSchemaError` on a schema it
 * cannot read: a comparison it does not understand never passes.
 *
 * @example
 * compareSchemas({ type: 'integer', minimum: 0 }, { type: 'integer', minimum: 1 }, { writer: 'baseline', reader: 'current schema' });
 * // [{ kind: 'range', path: '$', detail: '…' }]
 */
export function compareSchemas(writer: JsonSchema, reader: JsonSchema, names: SideNames): Difference[] {
  return new Comparison(writer, reader, names).compare(writer, reader, '$');
}

class Comparison {
  readonly #writerRoot: JsonSchema;
  readonly #readerRoot: JsonSchema;
  readonly #names: SideNames;
  /** Pairs of subschemas being compared: met again inside themselves (a recursive schema), they are assumed to hold. */
  readonly #inProgress = new Map<object, Set<object>>();

  constructor(writerRoot: JsonSchema, readerRoot: JsonSchema, names: SideNames) {
    this.#writerRoot = writerRoot;
    this.#readerRoot = readerRoot;
    this.#names = names;
  }

  compare(writer: JsonSchema, reader: JsonSchema, path: string): Difference[] {
    const w = resolveRef(writer, this.#writerRoot, path);
    const r = resolveRef(reader, this.#readerRoot, path);
    if (typeof w !== 'object' || typeof r !== 'object') return this.#compareResolved(w, r, path);
    // Coinduction: whatever breaks inside a recursion is reported by the outer comparison of the same pair.
    const pending = this.#inProgress.get(w) ?? new Set<object>();
    if (pending.has(r)) return [];
    this.#inProgress.set(w, pending.add(r));
    try {
      return this.#compareResolved(w, r, path);
    } finally {
      pending.delete(r);
    }
  }

  #compareResolved(w: JsonSchema, r: JsonSchema, path: string): Difference[] {
    const readerUnion = this.#expand(r, this.#readerRoot, path, true);
    if (readerUnion.kind === 'any') return [];
    const writerUnion = this.#expand(w, this.#writerRoot, path, false);
    const { writer: W, reader: R } = this.#names;
    if (writerUnion.kind === 'any') return [{ kind: 'type', path, detail: `the ${W} allows any value, the ${R} only ${readerUnion.branches.map(branchType).join(' or ') || 'none'}` }];
    return writerUnion.branches.flatMap((b) => this.#branch(b, readerUnion.branches, path));
  }

  /** A schema as a flat union of branches; `anyOf`/`oneOf` members are resolved and merged. */
  #expand(schema: JsonSchema, root: JsonSchema, path: string, reading: boolean): Union {
    const node = readNode(schema, path);
    if (node.kind !== 'anyOf') return node;
    const members = node.members.map((m) => this.#expand(resolveRef(m, root, path), root, path, reading));
    if (members.some((m) => m.kind === 'any')) {
      if (reading && node.exclusive) throw new UnsupportedSchemaError(path, '"oneOf" with a member that accepts anything');
      return { kind: 'any' };
    }
    const branches = members.flatMap((m) => (m.kind === 'union' ? m.branches : []));
    // A reader's oneOf rejects a value two members accept; read it as anyOf only when its members cannot overlap.
    if (reading && node.exclusive) this.#assertDisjoint(branches, root, path);
    return { kind: 'union', branches };
  }

  #assertDisjoint(branches: Branch[], root: JsonSchema, path: string): void {
    const category = (b: Branch) => (b.type === 'integer' ? 'number' : b.type);
    const constOf = (b: ObjectBranch, key: string) => this.#constOf(b, key, root, path);
    const disjoint = (a: Branch, b: Branch): boolean => {
      if (a.type === 'values') return a.values.every((v) => !branchAccepts(b, root, v, path));
      if (b.type === 'values') return disjoint(b, a);
      if (category(a) !== category(b)) return true;
      if (a.type !== 'object' || b.type !== 'object') return false;
      return [...a.required].some((k) => {
        const [x, y] = [constOf(a, k), constOf(b, k)];
        return b.required.has(k) && x !== undefined && y !== undefined && x.every((v) => !y.some((u) => jsonEqual(u, v)));
      });
    };
    for (let i = 0; i < branches.length; i++) {
      for (let j = i + 1; j < branches.length; j++) {
        if (!disjoint(branches[i]!, branches[j]!)) throw new UnsupportedSchemaError(path, '"oneOf" whose members may overlap (only members of different types or with different const discriminators are read)');
      }
    }
  }

  /** The values a property of an object may take when they are a finite set (a discriminator), else undefined. */
  #constOf(b: ObjectBranch, key: string, root: JsonSchema, path: string): readonly unknown[] | undefined {
    const property = b.properties.get(key);
    if (property === undefined) return undefined;
    const at = keyPath(path, key);
    const node = readNode(resolveRef(property, root, at), at);
    const only = node.kind === 'union' && node.branches.length === 1 ? node.branches[0] : undefined;
    return only?.type === 'values' ? only.values : undefined;
  }

  #branch(w: Branch, readers: Branch[], path: string): Difference[] {
    const { writer: W, reader: R } = this.#names;
    if (w.type === 'values') {
      const rejected = w.values.filter((v) => !readers.some((r) => branchAccepts(r, this.#readerRoot, v, path)));
      if (rejected.length === 0) return [];
      if (rejected.every((v) => v === null)) return [{ kind: 'null', path, detail: `the ${W} allows null, the ${R} does not` }];
      const sameType = rejected.every((v) => readers.some((r) => branchType(r).split('/').includes(typeOfValue(v)) || (typeof v === 'number' && (r.type === 'number' || r.type === 'integer'))));
      return [{ kind: sameType ? 'values' : 'type', path, detail: `the ${W} allows ${rejected.map(show).join(', ')}, which the ${R} rejects` }];
    }
    const candidates = readers.filter((r) => r.type === w.type || (w.type === 'integer' && r.type === 'number'));
    if (candidates.length === 0) {
      const finite = readers.filter((r) => r.type === 'values' && r.values.some((v) => typeOfValue(v) === (w.type === 'integer' ? 'number' : w.type)));
      if (finite.length > 0) return [{ kind: 'values', path, detail: `the ${W} allows any ${w.type}, the ${R} only ${finite.flatMap((f) => (f.type === 'values' ? f.values : [])).map(show).join(', ')}` }];
      return [{ kind: 'type', path, detail: `the ${W} allows ${w.type === 'integer' || w.type === 'number' ? `any ${w.type}` : `a${/^[aeiou]/.test(w.type) ? 'n' : ''} ${w.type}`}, the ${R} only ${readers.map(branchType).join(' or ') || 'nothing'}` }];
    }
    let best: Difference[] | undefined;
    for (const r of candidates) {
      const found = this.#sameType(w, r, path);
      if (found.length === 0) return [];
      if (!best || found.length < best.length) best = found;
    }
    return best!;
  }

  #sameType(w: Branch, r: Branch, path: string): Difference[] {
    if (w.type === 'string' && r.type === 'string') return this.#strings(w, r, path);
    if ((w.type === 'number' || w.type === 'integer') && (r.type === 'number' || r.type === 'integer')) return this.#numbers(w, r, path);
    if (w.type === 'object' && r.type === 'object') return this.#objects(w, r, path);
    if (w.type === 'array' && r.type === 'array') return this.#arrays(w, r, path);
    throw new Error(`compareSchemas: no comparison of ${w.type} with ${r.type}`);
  }

  #strings(w: StringBranch, r: StringBranch, path: string): Difference[] {
    const { writer: W, reader: R } = this.#names;
    const out: Difference[] = [];
    if (r.minLength > w.minLength || r.maxLength < w.maxLength) {
      out.push({ kind: 'length', path, detail: `the ${W} allows lengths ${w.minLength}–${w.maxLength}, the ${R} only ${r.minLength}–${r.maxLength}` });
    }
    if (r.format !== undefined && r.format !== w.format) out.push({ kind: 'format', path, detail: `the ${R} requires format "${r.format}", the ${W} ${w.format ? `has "${w.format}"` : 'allows any string'}` });
    else {
      const missing = r.patterns.filter((p) => !w.patterns.includes(p));
      if (missing.length > 0) out.push({ kind: 'format', path, detail: `the ${R} requires pattern /${missing[0]}/, which the ${W} does not` });
    }
    return out;
  }

  #numbers(w: NumberBranch, r: NumberBranch, path: string): Difference[] {
    const { writer: W, reader: R } = this.#names;
    if (w.type === 'number' && r.type === 'integer') return [{ kind: 'type', path, detail: `the ${W} allows any number, the ${R} only integers` }];
    const integer = w.type === 'integer';
    const low = (b: NumberBranch) => bound(b.min, integer, true);
    const high = (b: NumberBranch) => bound(b.max, integer, false);
    const lowOk = integer ? low(r) <= low(w) : r.min.value < w.min.value || (r.min.value === w.min.value && (!r.min.exclusive || w.min.exclusive));
    const highOk = integer ? high(r) >= high(w) : r.max.value > w.max.value || (r.max.value === w.max.value && (!r.max.exclusive || w.max.exclusive));
    const writerStep = w.multipleOf ?? (integer ? 1 : undefined);
    const stepOk = r.multipleOf === undefined || (writerStep !== undefined && isMultiple(writerStep, r.multipleOf));
    const out: Difference[] = [];
    if (!lowOk || !highOk) out.push({ kind: 'range', path, detail: `the ${W} allows ${showRange(w)}, the ${R} only ${showRange(r)}` });
    if (!stepOk) out.push({ kind: 'range', path, detail: `the ${R} requires multiples of ${r.multipleOf}, the ${W} ${writerStep ? `allows multiples of ${writerStep}` : 'any number'}` });
    return out;
  }

  #objects(w: ObjectBranch, r: ObjectBranch, path: string): Difference[] {
    const { writer: W, reader: R } = this.#names;
    // A union member the reader does not have: its discriminator says it all, the other fields would only add noise.
    for (const key of r.required) {
      const [mine, theirs] = [this.#constOf(w, key, this.#writerRoot, path), this.#constOf(r, key, this.#readerRoot, path)];
      if (w.required.has(key) && mine && theirs && mine.every((v) => !theirs.some((t) => jsonEqual(t, v)))) {
        return [{ kind: 'values', path: keyPath(path, key), detail: `the ${W} allows ${mine.map(show).join(', ')}, which the ${R} rejects` }];
      }
    }
    const out: Difference[] = [];
    for (const key of r.required) {
      if (w.required.has(key)) continue;
      const declared = w.properties.has(key);
      out.push({ kind: declared ? 'field-optional' : 'field-missing', path: keyPath(path, key), detail: declared ? `"${key}" is optional in the ${W} and required by the ${R}` : `"${key}" is required by the ${R} and absent from the ${W}` });
    }
    const readerSchemaOf = (key: string): JsonSchema | 'ignored' | 'rejected' => r.properties.get(key) ?? r.additional;
    for (const [key, schema] of w.properties) {
      if (r.propertyNames !== undefined && !acceptsValue(r.propertyNames, this.#readerRoot, key, `${path}.<key>`)) {
        out.push({ kind: 'field-rejected', path: keyPath(path, key), detail: `the ${W} has "${key}", a key the ${R} rejects` });
        continue;
      }
      const target = readerSchemaOf(key);
      if (target === 'ignored') continue;
      if (target === 'rejected') out.push({ kind: 'field-rejected', path: keyPath(path, key), detail: `the ${W} has "${key}", which the ${R} rejects (it allows no undeclared fields)` });
      else out.push(...this.compare(schema, target, keyPath(path, key)));
    }
    // Keys the writer does not declare: only a catchall or record schema sends them (ADR 0014).
    if (w.additional !== 'ignored' && w.additional !== 'rejected') {
      const any = `${path}.*`;
      if (r.additional === 'rejected') out.push({ kind: 'field-rejected', path: any, detail: `the ${W} allows fields it does not name, the ${R} rejects them` });
      else if (r.additional !== 'ignored') out.push(...this.compare(w.additional, r.additional, any));
      for (const [key, schema] of r.properties) if (!w.properties.has(key)) out.push(...this.compare(w.additional, schema, keyPath(path, key)));
      if (r.propertyNames !== undefined) {
        if (w.propertyNames === undefined) out.push({ kind: 'field-rejected', path: `${path}.<key>`, detail: `the ${W} allows any key, the ${R} restricts the keys` });
        else out.push(...this.compare(w.propertyNames, r.propertyNames, `${path}.<key>`));
      }
    }
    return out;
  }

  #arrays(w: ArrayBranch, r: ArrayBranch, path: string): Difference[] {
    const { writer: W, reader: R } = this.#names;
    const out: Difference[] = [];
    if (r.minItems > w.minItems || r.maxItems < w.maxItems) {
      out.push({ kind: 'length', path, detail: `the ${W} allows ${w.minItems}–${w.maxItems} items, the ${R} only ${r.minItems}–${r.maxItems}` });
    }
    const positions = Math.max(w.prefixItems.length, r.prefixItems.length);
    for (let i = 0; i < positions && i < w.maxItems; i++) {
      const item = w.prefixItems[i] ?? w.items;
      if (item === false) break;
      const target = r.prefixItems[i] ?? r.items;
      out.push(...(target === false ? [{ kind: 'length' as const, path, detail: `the ${W} allows an item at position ${i}, the ${R} no more than ${i} items` }] : this.compare(item, target, `${path}[${i}]`)));
    }
    if (w.items !== false && w.maxItems > positions) {
      if (r.items === false) out.push({ kind: 'length', path, detail: `the ${W} allows more than ${positions} items, the ${R} does not` });
      else out.push(...this.compare(w.items, r.items, `${path}[]`));
    }
    return out;
  }
}
