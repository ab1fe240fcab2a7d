import { describe, expect, it } from 'vitest';
import { jsonBinding, type ApiBinding } from '../src/kernel/index.js';
import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { pgliteTopology, postgresTopology } from './support/topologies.js';

// Catalog's API bound through JSON serialization and schema validation on both
// sides, the way a remote client will be: its caller (orders) does not change.
let calls = 0;
const countingJsonBinding: ApiBinding = (contract, implementation) => {
  const bound = jsonBinding(contract, implementation);
  const counted: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, operation] of Object.entries(bound as Record<string, (input: unknown) => Promise<unknown>>)) {
    counted[name] = (input) => {
      calls += 1;
      return operation(input);
    };
  }
  return counted as typeof bound;
};

sagaScenarios(pgliteTopology({ catalog: countingJsonBinding }, 'PGlite + memory bus, catalog API through the JSON binding'));
sagaScenarios(postgresTopology({ catalog: countingJsonBinding }, 'PostgreSQL + memory bus, catalog API through the JSON binding'));

describe('the JSON binding', () => {
  it('carried every call orders made to catalog', () => {
    // Two topologies, each placing at least 20 orders.
    expect(calls).toBeGreaterThanOrEqual(40);
  });
});
