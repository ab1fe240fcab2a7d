import type { DifferenceKind } from './schema-compare.js';

/**
 * Which way a comparison looks: `input` (the current schema of an API input
 * must accept what the baseline accepted), `output` (an API output or event
 * payload must produce only what the baseline's readers accept) or `reader`
 * (a consumer's reader schema must accept what the publisher produces).
 */
export type Direction = 'input' | 'output' | 'reader';

export interface ContractRule {
  readonly id: string;
  readonly direction: Direction;
  /** The kind of schema difference it reports; absent for rules about whole operations and event versions. */
  readonly kind?: DifferenceKind;
  /** What breaks, in a few words (docs and findings). */
  readonly breaks: string;
  /** What to do instead. */
  readonly fix: string;
}

const INPUT_FIX = 'keep accepting what the baseline accepted';
const NEW_OPERATION = 'or add a new operation (e.g. priceItemsV2) with the new shape and move the callers to it';
const OUTPUT_FIX = 'keep producing what the baseline produced';
const NEW_VERSION = 'or, for a new shape, add a new operation (API) or a new event version with an upcaster (events)';
const READER_FIX = "make the reader accept what the publisher produces: read only the fields it needs, and no stricter than the publisher's schema";

/** Every rule of `npm run contracts:check`, each with a fixture in test/contracts/ that must break it. */
export const CONTRACT_RULES = [
  { id: 'input-operation-removed', direction: 'input', breaks: 'an API operation of the baseline is gone; its callers fail', fix: 'keep the operation (mark it deprecated in its comment) until no caller uses it' },
  { id: 'input-required-field-added', direction: 'input', kind: 'field-missing', breaks: 'a new required input field; callers that do not send it are rejected', fix: `${INPUT_FIX}: add the field as optional (.optional(), with a default in the implementation), ${NEW_OPERATION}` },
  { id: 'input-field-made-required', direction: 'input', kind: 'field-optional', breaks: 'an optional input field made required', fix: `${INPUT_FIX}: keep the field optional, ${NEW_OPERATION}` },
  { id: 'input-field-removed', direction: 'input', kind: 'field-rejected', breaks: 'a field removed from a strict input object, which now rejects callers that send it', fix: `${INPUT_FIX}: keep the field (ignore it in the implementation), or make the object non-strict (z.object) so that it drops unknown fields` },
  { id: 'input-type-narrowed', direction: 'input', kind: 'type', breaks: 'an input type narrowed (e.g. number to integer, a union member dropped)', fix: `${INPUT_FIX}: keep the old type, ${NEW_OPERATION}` },
  { id: 'input-null-rejected', direction: 'input', kind: 'null', breaks: 'an input that accepted null rejects it', fix: `${INPUT_FIX}: keep .nullable(), ${NEW_OPERATION}` },
  { id: 'input-range-narrowed', direction: 'input', kind: 'range', breaks: 'a number range of an input narrowed', fix: `${INPUT_FIX}: keep the old bounds (check a stricter rule in the implementation if needed, with a clear error), ${NEW_OPERATION}` },
  { id: 'input-length-narrowed', direction: 'input', kind: 'length', breaks: 'a length of an input string or list narrowed', fix: `${INPUT_FIX}: keep the old length limits, ${NEW_OPERATION}` },
  { id: 'input-format-narrowed', direction: 'input', kind: 'format', breaks: 'a format or pattern added to or changed on an input string', fix: `${INPUT_FIX}: keep the old format, ${NEW_OPERATION}` },
  { id: 'input-values-narrowed', direction: 'input', kind: 'values', breaks: 'an enum or literal of an input lost values, or a free value became an enum', fix: `${INPUT_FIX}: keep the old values (map them in the implementation), ${NEW_OPERATION}` },
  { id: 'output-field-removed', direction: 'output', kind: 'field-missing', breaks: 'a field of an output or event payload removed or renamed; readers that need it fail', fix: `${OUTPUT_FIX}: keep the field (add a renamed one beside it), ${NEW_VERSION}` },
  { id: 'output-field-made-optional', direction: 'output', kind: 'field-optional', breaks: 'a required output field made optional', fix: `${OUTPUT_FIX}: always fill the field, ${NEW_VERSION}` },
  { id: 'output-field-rejected', direction: 'output', kind: 'field-rejected', breaks: 'a field added to an output whose baseline schema is strict, so its readers reject it', fix: `${OUTPUT_FIX}: do not add fields to a strict output; make outputs non-strict (z.object) in a new operation or event version` },
  { id: 'output-type-widened', direction: 'output', kind: 'type', breaks: 'an output type widened (e.g. integer to number, a union member added)', fix: `${OUTPUT_FIX}: keep the old type, ${NEW_VERSION}` },
  { id: 'output-made-nullable', direction: 'output', kind: 'null', breaks: 'an output or payload field that may now be null', fix: `${OUTPUT_FIX}: never produce null there (use a default), ${NEW_VERSION}` },
  { id: 'output-range-widened', direction: 'output', kind: 'range', breaks: 'a number range of an output widened', fix: `${OUTPUT_FIX}: keep the old bounds, ${NEW_VERSION}` },
  { id: 'output-length-widened', direction: 'output', kind: 'length', breaks: 'a length of an output string or list widened', fix: `${OUTPUT_FIX}: keep the old length limits, ${NEW_VERSION}` },
  { id: 'output-format-widened', direction: 'output', kind: 'format', breaks: 'a format or pattern of an output string dropped or changed', fix: `${OUTPUT_FIX}: keep the old format, ${NEW_VERSION}` },
  { id: 'output-values-widened', direction: 'output', kind: 'values', breaks: 'an enum or literal of an output gained values, or became a free value', fix: `${OUTPUT_FIX}: do not add enum values readers may not know, ${NEW_VERSION}` },
  { id: 'reader-event-unpublished', direction: 'reader', breaks: 'a consumer reads an event that no module publishes (any more)', fix: 'read an event a module publishes (check the name), or keep publishing it while a consumer reads it' },
  { id: 'version-not-published', direction: 'reader', breaks: 'a consumer reads an event version no publisher produces nor an upcaster reaches', fix: 'define that version in the publisher first (defineEvent with from: { previous, upcast, downcast }), or read the version it publishes' },
  { id: 'version-downcast-missing', direction: 'reader', breaks: 'a publisher stops serving a version some consumer (current, or in the baseline and maybe not redeployed yet) still reads', fix: 'keep serving the old version: keep it as from.previous of the new one with a downcast, until the baseline records no consumer of it; or move the consumers first, in a change of their own' },
  { id: 'version-upcaster-missing', direction: 'reader', breaks: 'events of the version the baseline published may still wait in outboxes, queues and dead letters, and no upcaster brings them to the version a consumer reads', fix: 'keep the old version in the history (from: { previous, upcast }) until no event of it can remain (outboxes relayed, queues drained, dead letters replayed); drop it in a later change' },
  { id: 'reader-requires-missing-field', direction: 'reader', kind: 'field-missing', breaks: 'a consumer requires a field the payload does not have', fix: `${READER_FIX}; drop the field from the reader, or ask for it in a new event version` },
  { id: 'reader-requires-optional-field', direction: 'reader', kind: 'field-optional', breaks: 'a consumer requires a field the publisher may leave out', fix: `${READER_FIX}; mark the field .optional() in the reader` },
  { id: 'reader-rejects-field', direction: 'reader', kind: 'field-rejected', breaks: 'a strict consumer rejects a field the publisher sends', fix: `${READER_FIX}; use z.object (tolerant) instead of z.strictObject for readers` },
  { id: 'reader-type-narrower', direction: 'reader', kind: 'type', breaks: "a consumer's type narrower than the publisher's", fix: `${READER_FIX}; use the publisher's type` },
  { id: 'reader-rejects-null', direction: 'reader', kind: 'null', breaks: 'a consumer rejects null the publisher may send', fix: `${READER_FIX}; add .nullable() in the reader` },
  { id: 'reader-range-narrower', direction: 'reader', kind: 'range', breaks: "a consumer's number range narrower than the publisher's", fix: `${READER_FIX}; drop the bound from the reader (check it in the handler), or have the publisher declare it` },
  { id: 'reader-length-narrower', direction: 'reader', kind: 'length', breaks: "a consumer's length limits narrower than the publisher's", fix: `${READER_FIX}; drop the limit from the reader, or have the publisher declare it` },
  { id: 'reader-format-narrower', direction: 'reader', kind: 'format', breaks: 'a consumer requires a format or pattern the publisher does not declare', fix: `${READER_FIX}; drop the format from the reader, or have the publisher declare it` },
  { id: 'reader-values-narrower', direction: 'reader', kind: 'values', breaks: 'a consumer accepts fewer enum values than the publisher may send', fix: `${READER_FIX}; accept every value the publisher declares` },
] as const satisfies readonly ContractRule[];

export type ContractRuleId = (typeof CONTRACT_RULES)[number]['id'];

/** The rule a schema difference breaks in a direction. */
export function ruleFor(direction: Direction, kind: DifferenceKind): ContractRule {
  const rule = CONTRACT_RULES.find((r) => r.direction === direction && 'kind' in r && r.kind === kind);
  if (!rule) throw new Error(`no contract rule for a ${kind} difference in direction ${direction}`);
  return rule;
}

export function ruleById(id: ContractRuleId): ContractRule {
  return CONTRACT_RULES.find((r) => r.id === id)!;
}
