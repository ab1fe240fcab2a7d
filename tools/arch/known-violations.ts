import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const KNOWN_VIOLATIONS_FILE = 'arch-known-violations.json';

const KnownViolation = z.strictObject({
  rule: z.string().min(1),
  from: z.string().min(1),
  to: z.string().min(1),
  reason: z.string().trim().min(10, 'say why this violation is tolerated (10 characters at least)'),
});
export type KnownViolation = z.infer<typeof KnownViolation>;

/**
 * Reads the known-violations file of a project: violations it tolerates for
 * now, each with a reason. A missing file means none.
 */
export function readKnownViolations(root: string): KnownViolation[] {
  const file = join(root, KNOWN_VIOLATIONS_FILE);
  if (!existsSync(file)) return [];
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${KNOWN_VIOLATIONS_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = z.array(KnownViolation).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${KNOWN_VIOLATIONS_FILE}: entry ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

export interface Violation {
  rule: string;
  from: string;
  to: string;
}

const key = (v: Violation) => `${v.rule}\u0000${v.from}\u0000${v.to}`;

/** Splits violations into new and known, and finds known entries that match nothing (stale). */
export function applyKnownViolations<V extends Violation>(violations: V[], known: KnownViolation[]) {
  const knownKeys = new Set(known.map(key));
  const seen = new Set(violations.map(key));
  return {
    fresh: violations.filter((v) => !knownKeys.has(key(v))),
    tolerated: violations.filter((v) => knownKeys.has(key(v))),
    stale: known.filter((k) => !seen.has(key(k))),
  };
}
