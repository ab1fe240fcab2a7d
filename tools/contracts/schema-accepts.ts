import { readNode, resolveRef, UnsupportedSchemaError, type Branch, type JsonSchema } from './json-schema-node.js';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Structural equality of JSON values, as `enum` and `const` compare them. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Whether `value` is a multiple of `step`, within floating-point noise. */
export function isMultiple(value: number, step: number): boolean {
  const quotient = value / step;
  return Math.abs(quotient - Math.round(quotient)) < 1e-9;
}

/** Whether one normalized branch of a schema of the document `root` accepts `value`. */
export function branchAccepts(branch: Branch, root: JsonSchema, value: unknown, path: string): boolean {
  switch (branch.type) {
    case 'values':
      return branch.values.some((v) => jsonEqual(v, value));
    case 'string':
      if (typeof value !== 'string' || value.length < branch.minLength || value.length > branch.maxLength) return false;
      // zod emits a pattern for each format it checks; a format alone would be a guess.
      if (branch.format !== undefined && branch.patterns.length === 0) throw new UnsupportedSchemaError(path, `"format": "${branch.format}" without a pattern (a value cannot be checked against it)`);
      return branch.patterns.every((p) => new RegExp(p).test(value));
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value) || (branch.type === 'integer' && !Number.isInteger(value))) return false;
      const { min, max, multipleOf } = branch;
      if (min.exclusive ? value <= min.value : value < min.value) return false;
      if (max.exclusive ? value >= max.value : value > max.value) return false;
      return multipleOf === undefined || isMultiple(value, multipleOf);
    }
    case 'object': {
      if (!isRecord(value)) return false;
      if ([...branch.required].some((k) => !(k in value))) return false;
      return Object.entries(value).every(([key, v]) => {
        if (branch.propertyNames !== undefined && !acceptsValue(branch.propertyNames, root, key, `${path}.<key>`)) return false;
        const declared = branch.properties.get(key);
        if (declared !== undefined) return acceptsValue(declared, root, v, `${path}.${key}`);
        if (branch.additional === 'ignored') return true;
        if (branch.additional === 'rejected') return false;
        return acceptsValue(branch.additional, root, v, `${path}.${key}`);
      });
    }
    case 'array':
      if (!Array.isArray(value) || value.length < branch.minItems || value.length > branch.maxItems) return false;
      return value.every((item, i) => acceptsValue(branch.prefixItems[i] ?? branch.items, root, item, `${path}[${i}]`));
  }
}

/**
 * Whether `schema` (part of the document `root`) accepts `value`: the
 * validator the comparator uses for enum and const values.
 *
 * @example
 * acceptsValue({ type: 'string', enum: ['a', 'b'] }, root, 'c', '$'); // false
 */
export function acceptsValue(schema: JsonSchema, root: JsonSchema, value: unknown, path: string): boolean {
  const node = readNode(resolveRef(schema, root, path), path);
  if (node.kind === 'any') return true;
  if (node.kind === 'anyOf') {
    const matches = node.members.filter((m) => acceptsValue(m, root, value, path)).length;
    return node.exclusive ? matches === 1 : matches > 0;
  }
  return node.branches.some((b) => branchAccepts(b, root, value, path));
}
