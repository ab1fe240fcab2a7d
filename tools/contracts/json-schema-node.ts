/**
 * The JSON Schema that zod 4 emits (draft 2020-12), read into a small
 * normalized form the comparator can reason about: a schema is "anything",
 * or a union of branches of one type each. Whatever this file does not know
 * is an `UnsupportedSchemaError`, never a guess: the check must not pass on
 * something it did not understand.
 */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** A schema the comparator cannot read, with where and what. */
export class UnsupportedSchemaError extends Error {
  override readonly name = 'UnsupportedSchemaError';
  constructor(
    readonly path: string,
    readonly what: string,
  ) {
    super(`${what} at ${path}`);
  }
}

export interface StringBranch {
  type: 'string';
  minLength: number;
  maxLength: number;
  format: string | undefined;
  patterns: string[];
}
export interface NumberBranch {
  type: 'number' | 'integer';
  /** Lower and upper bounds; `exclusive` when the bound itself is not allowed. */
  min: { value: number; exclusive: boolean };
  max: { value: number; exclusive: boolean };
  multipleOf: number | undefined;
}
export interface ObjectBranch {
  type: 'object';
  properties: ReadonlyMap<string, JsonSchema>;
  required: ReadonlySet<string>;
  /** `ignored`: keys it does not declare are not part of it (zod's z.object, read as input); `rejected`: strict; or a schema (catchall, record). */
  additional: 'ignored' | 'rejected' | JsonSchema;
  propertyNames: JsonSchema | undefined;
}
export interface ArrayBranch {
  type: 'array';
  prefixItems: readonly JsonSchema[];
  /** The schema of items after the prefix; `false` when there may be none. */
  items: JsonSchema;
  minItems: number;
  maxItems: number;
}
/** A finite set of values: enum, const, boolean, null. */
export interface ValuesBranch {
  type: 'values';
  values: readonly unknown[];
}
export type Branch = StringBranch | NumberBranch | ObjectBranch | ArrayBranch | ValuesBranch;

/** `any` accepts every value; a union with no branch accepts none. */
export type SchemaNode = { kind: 'any' } | { kind: 'union'; branches: Branch[]; exclusive: boolean };

/** Keywords that say nothing about which values are valid. */
const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'readOnly', 'writeOnly', 'deprecated', '$defs', 'id']);

const TYPE_KEYWORDS: Record<string, readonly string[]> = {
  string: ['minLength', 'maxLength', 'format', 'pattern', 'allOf'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  integer: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
  object: ['properties', 'required', 'additionalProperties', 'propertyNames'],
  array: ['items', 'prefixItems', 'minItems', 'maxItems'],
  boolean: [],
  null: [],
};

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The keywords of `schema` that decide validity (annotations left out). */
export function assertions(schema: JsonSchema): string[] {
  return typeof schema === 'boolean' ? [] : Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
}

/**
 * Follows `$ref` to `#` or `#/$defs/<name>` of the root it was emitted in
 * (zod emits no others).
 */
export function resolveRef(schema: JsonSchema, root: JsonSchema, path: string): JsonSchema {
  if (typeof schema === 'boolean' || schema.$ref === undefined) return schema;
  const ref = schema.$ref;
  if (assertions(schema).length > 1) throw new UnsupportedSchemaError(path, '"$ref" beside other keywords');
  if (ref === '#') return root;
  const name = typeof ref === 'string' && ref.startsWith('#/$defs/') ? ref.slice('#/$defs/'.length) : undefined;
  const defs = typeof root === 'object' ? root.$defs : undefined;
  const target = name !== undefined && isRecord(defs) ? defs[name] : undefined;
  if (typeof target === 'boolean' || isRecord(target)) return target;
  throw new UnsupportedSchemaError(path, `"$ref" ${JSON.stringify(ref)} (only "#" and "#/$defs/<name>" of the same document are read)`);
}

const numberOr = (value: unknown, fallback: number, path: string, keyword: string): number => {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new UnsupportedSchemaError(path, `"${keyword}" that is not a number`);
  return value;
};

function patternsOf(schema: Record<string, unknown>, path: string): string[] {
  const patterns = typeof schema.pattern === 'string' ? [schema.pattern] : [];
  if (schema.allOf === undefined) return patterns;
  // zod writes several .regex() checks as allOf of pattern-only schemas.
  if (!Array.isArray(schema.allOf)) throw new UnsupportedSchemaError(path, '"allOf" that is not a list');
  for (const part of schema.allOf) {
    if (!isRecord(part) || typeof part.pattern !== 'string' || assertions(part).length !== 1) {
      throw new UnsupportedSchemaError(path, '"allOf" other than a list of patterns (an intersection zod could not merge)');
    }
    patterns.push(part.pattern);
  }
  return patterns;
}

function branchOf(type: string, schema: Record<string, unknown>, path: string): Branch {
  switch (type) {
    case 'null':
      return { type: 'values', values: [null] };
    case 'boolean':
      return { type: 'values', values: [true, false] };
    case 'string':
      return {
        type: 'string',
        minLength: numberOr(schema.minLength, 0, path, 'minLength'),
        maxLength: numberOr(schema.maxLength, Infinity, path, 'maxLength'),
        format: typeof schema.format === 'string' ? schema.format : undefined,
        patterns: patternsOf(schema, path),
      };
    case 'number':
    case 'integer': {
      const bound = (inclusive: string, exclusive: string, fallback: number) =>
        schema[exclusive] !== undefined
          ? { value: numberOr(schema[exclusive], fallback, path, exclusive), exclusive: true }
          : { value: numberOr(schema[inclusive], fallback, path, inclusive), exclusive: false };
      const multipleOf = schema.multipleOf === undefined ? undefined : numberOr(schema.multipleOf, 1, path, 'multipleOf');
      return { type, min: bound('minimum', 'exclusiveMinimum', -Infinity), max: bound('maximum', 'exclusiveMaximum', Infinity), multipleOf };
    }
    case 'object': {
      const properties = schema.properties ?? {};
      if (!isRecord(properties)) throw new UnsupportedSchemaError(path, '"properties" that is not an object');
      const required = schema.required ?? [];
      if (!Array.isArray(required)) throw new UnsupportedSchemaError(path, '"required" that is not a list');
      const extra = schema.additionalProperties;
      const additional = extra === undefined ? 'ignored' : extra === false ? 'rejected' : (extra as JsonSchema);
      if (typeof additional !== 'string' && typeof additional !== 'boolean' && !isRecord(additional)) throw new UnsupportedSchemaError(path, '"additionalProperties" that is not a schema');
      const names = schema.propertyNames as JsonSchema | undefined;
      return { type: 'object', properties: new Map(Object.entries(properties) as Array<[string, JsonSchema]>), required: new Set(required as string[]), additional, propertyNames: names };
    }
    case 'array': {
      const prefix = schema.prefixItems ?? [];
      if (!Array.isArray(prefix)) throw new UnsupportedSchemaError(path, '"prefixItems" that is not a list');
      return {
        type: 'array',
        prefixItems: prefix as JsonSchema[],
        items: (schema.items ?? true) as JsonSchema,
        minItems: numberOr(schema.minItems, 0, path, 'minItems'),
        maxItems: numberOr(schema.maxItems, Infinity, path, 'maxItems'),
      };
    }
    default:
      throw new UnsupportedSchemaError(path, `"type": ${JSON.stringify(type)}`);
  }
}

/**
 * Reads one schema (already `$ref`-resolved) into its normalized form;
 * `subschemas` are returned unread, for the caller to resolve and read.
 */
export function readNode(schema: JsonSchema, path: string): SchemaNode | { kind: 'anyOf'; members: JsonSchema[]; exclusive: boolean } {
  if (schema === true) return { kind: 'any' };
  if (schema === false) return { kind: 'union', branches: [], exclusive: false };
  const keys = assertions(schema);
  if (keys.length === 0) return { kind: 'any' };
  if (keys.length === 1 && keys[0] === 'not' && isRecord(schema.not) && assertions(schema.not).length === 0) return { kind: 'union', branches: [], exclusive: false };
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    if (schema[combinator] === undefined) continue;
    if (keys.length > 1) throw new UnsupportedSchemaError(path, `"${combinator}" beside other keywords (${keys.filter((k) => k !== combinator).join(', ')})`);
    const members = schema[combinator];
    if (!Array.isArray(members)) throw new UnsupportedSchemaError(path, `"${combinator}" that is not a list`);
    return { kind: 'anyOf', members: members as JsonSchema[], exclusive: combinator === 'oneOf' };
  }
  if (schema.enum !== undefined || schema.const !== undefined) {
    const values = schema.const !== undefined ? [schema.const] : schema.enum;
    if (!Array.isArray(values)) throw new UnsupportedSchemaError(path, '"enum" that is not a list');
    const unknown = keys.filter((k) => k !== 'enum' && k !== 'const' && k !== 'type');
    if (unknown.length > 0) throw new UnsupportedSchemaError(path, `${unknown.map((k) => `"${k}"`).join(', ')} beside "enum"/"const"`);
    return { kind: 'union', branches: [{ type: 'values', values }], exclusive: false };
  }
  if (schema.allOf !== undefined && schema.type !== 'string') throw new UnsupportedSchemaError(path, '"allOf" other than a list of patterns on a string (an intersection zod could not merge)');
  const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
  if (schema.type === undefined || types.some((t) => typeof t !== 'string' || !(t in TYPE_KEYWORDS))) {
    throw new UnsupportedSchemaError(path, schema.type === undefined ? `keywords without a "type" (${keys.join(', ')})` : `"type": ${JSON.stringify(schema.type)}`);
  }
  const known = new Set(['type', ...types.flatMap((t) => TYPE_KEYWORDS[t as string]!)]);
  const unknown = keys.filter((k) => !known.has(k));
  if (unknown.length > 0) throw new UnsupportedSchemaError(path, `keyword ${unknown.map((k) => `"${k}"`).join(', ')}`);
  return { kind: 'union', branches: types.map((t) => branchOf(t as string, schema, path)), exclusive: false };
}
