import { UnsupportedSchemaError, type JsonSchema } from './json-schema-node.js';
import { ruleById, ruleFor, type ContractRuleId, type Direction } from './rules.js';
import { compareSchemas, type SideNames } from './schema-compare.js';

/** One breaking change: where, which rule, what happened and what to do instead. */
export interface Finding {
  module: string;
  /** The operation, event or reader: `operation getProduct output`, `event catalog.StockReserved@1`, `reader capture-payment of catalog.StockReserved@1`. */
  subject: string;
  /** JSON path in the payload, `$` for the whole of it. */
  path: string;
  rule: ContractRuleId;
  detail: string;
  fix: string;
}

const NAMES: Record<Direction, SideNames> = {
  input: { writer: 'baseline', reader: 'current schema' },
  output: { writer: 'current schema', reader: 'baseline' },
  reader: { writer: 'publisher', reader: 'reader' },
};

/** The findings of one schema comparison; a schema the comparator cannot read names where it is. */
export function compareFindings(direction: Direction, module: string, subject: string, writer: JsonSchema, reader: JsonSchema, names = NAMES[direction]): Finding[] {
  let differences;
  try {
    differences = compareSchemas(writer, reader, names);
  } catch (error) {
    if (error instanceof UnsupportedSchemaError) throw new UnsupportedSchemaError(`${module}: ${subject}, ${error.path}`, error.what);
    throw error;
  }
  return differences.map((d) => {
    const rule = ruleFor(direction, d.kind);
    return { module, subject, path: d.path, rule: rule.id as ContractRuleId, detail: d.detail, fix: rule.fix };
  });
}

/** A finding about a whole operation or event version. */
export function finding(module: string, subject: string, id: ContractRuleId, detail: string): Finding {
  return { module, subject, path: '$', rule: id, detail, fix: ruleById(id).fix };
}
