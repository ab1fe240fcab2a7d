import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UnsupportedSchemaError, type JsonSchema } from './json-schema-node.js';
import { compareSchemas } from './schema-compare.js';

const names = { writer: 'writer', reader: 'reader' };
const json = (schema: z.ZodType, io: 'input' | 'output' = 'output') => z.toJSONSchema(schema, { io }) as JsonSchema;
/** Whether every value `writer` produces is accepted by `reader` (read as zod parses: its input view). */
const diff = (writer: z.ZodType, reader: z.ZodType) => compareSchemas(json(writer), json(reader, 'input'), names);
const kinds = (writer: z.ZodType, reader: z.ZodType) => diff(writer, reader).map((d) => `${d.kind} ${d.path}`);

describe('compareSchemas', () => {
  it('a schema accepts what it produces', () => {
    const Order = z.object({
      id: z.uuid(),
      status: z.enum(['pending', 'confirmed']),
      cancelReason: z.literal('out_of_stock').optional(),
      totalCents: z.number().int().min(0),
      items: z.array(z.object({ productId: z.uuid(), quantity: z.number().int().min(1).max(1000) })).min(1),
      tags: z.record(z.string(), z.number()),
      pair: z.tuple([z.string(), z.number()]),
      email: z.email().nullable(),
      note: z.string().regex(/a/).regex(/b/),
    });
    expect(diff(Order, Order)).toEqual([]);
  });

  it('finds each kind of difference at its JSON path', () => {
    expect(kinds(z.object({ a: z.string() }), z.object({ a: z.string(), b: z.string() }))).toEqual(['field-missing $.b']);
    expect(kinds(z.object({ b: z.string().optional() }), z.object({ b: z.string() }))).toEqual(['field-optional $.b']);
    expect(kinds(z.object({ a: z.string(), b: z.string() }), z.strictObject({ a: z.string() }))).toEqual(['field-rejected $.b']);
    expect(kinds(z.object({ n: z.number() }), z.object({ n: z.number().int() }))).toEqual(['type $.n']);
    expect(kinds(z.object({ n: z.string() }), z.object({ n: z.number() }))).toEqual(['type $.n']);
    expect(kinds(z.string().nullable(), z.string())).toEqual(['null $']);
    expect(kinds(z.array(z.object({ q: z.number().int() })), z.array(z.object({ q: z.number().int().positive() })))).toEqual(['range $[].q']);
    expect(kinds(z.string().max(9), z.string().max(5))).toEqual(['length $']);
    expect(kinds(z.string(), z.uuid())).toEqual(['format $']);
    expect(kinds(z.string().regex(/a/), z.string().regex(/b/))).toEqual(['format $']);
    expect(kinds(z.enum(['a', 'b']), z.enum(['a']))).toEqual(['values $']);
    expect(kinds(z.string(), z.enum(['a']))).toEqual(['values $']);
    expect(kinds(z.object({ 'odd key': z.number() }), z.object({ 'odd key': z.string() }))).toEqual(['type $["odd key"]']);
  });

  it('reads integer bounds as integers and checks multipleOf', () => {
    expect(diff(z.number().int().min(1), z.number().int().positive())).toEqual([]);
    expect(diff(z.number().int().max(9), z.number().int().lt(10))).toEqual([]);
    expect(kinds(z.number().min(0), z.number().positive())).toEqual(['range $']);
    expect(diff(z.number().multipleOf(10), z.number().multipleOf(5))).toEqual([]);
    expect(kinds(z.number().multipleOf(5), z.number().multipleOf(10))).toEqual(['range $']);
    expect(kinds(z.number(), z.number().multipleOf(0.5))).toEqual(['range $']);
  });

  it('checks enum and const values one by one against the reader', () => {
    expect(diff(z.literal('a'), z.enum(['a', 'b']))).toEqual([]);
    expect(diff(z.enum(['ab', 'ac']), z.string().regex(/^a/))).toEqual([]);
    expect(diff(z.literal(3), z.number().int().min(1))).toEqual([]);
    expect(kinds(z.literal(0), z.number().int().min(1))).toEqual(['values $']);
    expect(kinds(z.boolean(), z.literal(true))).toEqual(['values $']);
  });

  it('compares unions branch by branch, and discriminated unions by their discriminator', () => {
    const Card = z.object({ kind: z.literal('card'), last4: z.string() });
    const Wallet = z.object({ kind: z.literal('wallet'), walletId: z.string() });
    expect(diff(Card, z.discriminatedUnion('kind', [Card, Wallet]))).toEqual([]);
    expect(kinds(z.discriminatedUnion('kind', [Card, Wallet]), z.discriminatedUnion('kind', [Card]))).toEqual(['values $.kind']);
    expect(kinds(z.union([z.string(), z.number()]), z.string())).toEqual(['type $']);
    expect(diff(z.number().int(), z.union([z.string(), z.number()]))).toEqual([]);
  });

  it('follows $ref into $defs and through recursion', () => {
    const Shared = z.object({ x: z.string() }).meta({ id: 'Shared' });
    expect(diff(z.object({ a: Shared, b: Shared }), z.object({ a: Shared, b: Shared }))).toEqual([]);
    const Narrow = z.object({ x: z.string().max(3) }).meta({ id: 'Narrow' });
    expect(kinds(z.object({ a: Shared }), z.object({ a: Narrow }))).toEqual(['length $.a.x']);
    type Node = { v: number; next?: Node };
    const Loose: z.ZodType<Node> = z.object({ v: z.number(), next: z.lazy(() => Loose).optional() });
    const Strict: z.ZodType<Node> = z.object({ v: z.number().int(), next: z.lazy(() => Strict).optional() });
    expect(diff(Loose, Loose)).toEqual([]);
    expect(kinds(Loose, Strict)).toEqual(['type $.v']);
  });

  it('a shared $defs schema that breaks is reported whichever union member is tried', () => {
    const writer = { $defs: { S: { type: 'integer' } }, type: 'object', properties: { a: { $ref: '#/$defs/S' } }, required: ['a'] };
    const member = (extra: object) => ({ type: 'object', properties: { a: { $ref: '#/$defs/R' }, ...extra }, required: ['a'] });
    const reader = { $defs: { R: { type: 'string' } }, anyOf: [member({}), member({ b: { type: 'string' } })] };
    expect(compareSchemas(writer, reader, names).map((d) => `${d.kind} ${d.path}`)).toEqual(['type $.a']);
  });

  it('compares tuples position by position and records by keys and values', () => {
    expect(kinds(z.tuple([z.string(), z.number()]), z.tuple([z.string(), z.number().int()]))).toEqual(['type $[1]']);
    expect(kinds(z.tuple([z.string()], z.number()), z.tuple([z.string()]))).toEqual(['length $', 'length $']);
    expect(kinds(z.record(z.string(), z.number()), z.record(z.string(), z.number().int()))).toEqual(['type $.*']);
    expect(kinds(z.record(z.string(), z.number()), z.record(z.enum(['a']), z.number()))).toEqual(['field-missing $.a', 'values $.<key>']);
  });

  it('a writer of anything is accepted only by a reader of anything', () => {
    expect(diff(z.string(), z.unknown())).toEqual([]);
    expect(kinds(z.unknown(), z.string())).toEqual(['type $']);
    expect(diff(z.never(), z.string())).toEqual([]);
  });

  it('names the side that produces and the side that reads', () => {
    const [d] = compareSchemas(json(z.object({ a: z.number().int() })), json(z.object({ a: z.number().int().min(0) }), 'input'), { writer: 'baseline', reader: 'current schema' });
    expect(d).toEqual({ kind: 'range', path: '$.a', detail: 'the baseline allows any integer, the current schema only ≥ 0' });
  });

  describe('refuses what it cannot compare, naming it', () => {
    const refused = (writer: JsonSchema, reader: JsonSchema) => {
      try {
        compareSchemas(writer, reader, names);
      } catch (error) {
        if (error instanceof UnsupportedSchemaError) return error.message;
        throw error;
      }
      throw new Error('compared without complaint');
    };

    it('an unknown keyword', () => {
      expect(refused({ type: 'string' }, { type: 'string', contentEncoding: 'base64' })).toBe('keyword "contentEncoding" at $');
      expect(refused({ type: 'object', properties: { a: { type: 'string', 'x-unit': 'cm' } } }, { type: 'object', properties: { a: { type: 'string' } } })).toBe('keyword "x-unit" at $.a');
    });

    it('an intersection zod could not merge (allOf)', () => {
      expect(refused(json(z.intersection(z.string(), z.string().min(2))), { type: 'string' })).toMatch(/"allOf" other than a list of patterns/);
    });

    it('a $ref outside the document', () => {
      expect(refused({ $ref: 'https://example.com/a.json' }, { type: 'string' })).toMatch(/"\$ref" "https:\/\/example.com\/a.json"/);
    });

    it('a oneOf whose members may overlap', () => {
      expect(refused({ type: 'string' }, json(z.xor([z.string(), z.string().min(3)])))).toMatch(/"oneOf" whose members may overlap/);
    });

    it('a format it cannot check a value against', () => {
      expect(refused({ enum: ['x'] }, { type: 'string', format: 'hostname' })).toMatch(/"format": "hostname" without a pattern/);
    });

    it('a schema without a type', () => {
      expect(refused({ minimum: 3 }, { type: 'number' })).toMatch(/keywords without a "type" \(minimum\)/);
    });
  });
});
