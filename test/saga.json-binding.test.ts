import { expect, it } from 'vitest';
import { jsonBinding, type ApiBinding } from '../src/kernel/index.js';
import { sagaScenarios } from './scenarios/saga.scenarios.js';
import { pgliteTopology, postgresTopology, type RunningShop, type Topology } from './support/topologies.js';

// Catalog's API bound through JSON serialization and schema validation on both
// sides, the way a remote client will be: its caller (orders) does not change.

/** A JSON binding that counts the calls going through it. */
function countingJsonBinding(): { binding: ApiBinding; calls: () => number } {
  let calls = 0;
  const binding: ApiBinding = (contract, implementation) => {
    const bound = jsonBinding(contract, implementation);
    const counted: Record<string, (input: unknown, context?: unknown) => Promise<unknown>> = {};
    for (const [name, operation] of Object.entries(bound as Record<string, (input: unknown, context?: unknown) => Promise<unknown>>)) {
      counted[name] = (input, context) => {
        calls += 1;
        return operation(input, context);
      };
    }
    return counted as typeof bound;
  };
  return { binding, calls: () => calls };
}

function withCountingBinding(make: (bindings: Record<string, ApiBinding>, name: string) => Topology, name: string): void {
  const counter = countingJsonBinding();
  sagaScenarios(make({ catalog: counter.binding }, name), (running: () => RunningShop) => {
    it('carries every call orders makes to catalog, the failing ones too', async () => {
      const { shop, app } = running();
      const product = await shop.createProduct(10, 100);
      const wallet = await shop.createWallet(10_000);
      const before = counter.calls();
      // A shed order (429) never reaches catalog, so placing it again keeps the count exact.
      for (let i = 0; i < 3; i += 1) expect((await shop.placeOrderAccepted(wallet.customerId, [{ productId: product.id, quantity: 1 }])).status).toBe(202);
      const unknown = await shop.placeOrder(wallet.customerId, [{ productId: '00000000-0000-4000-8000-000000000000', quantity: 1 }]);
      // The callee's error crossed the binding as the same error.
      expect(unknown.status).toBe(422);
      expect(unknown.body.error.code).toBe('CATALOG.UNKNOWN_PRODUCT');
      expect(counter.calls() - before).toBe(4);
      // And every order this topology ever stored was priced through the binding.
      const [stored] = await app.database.forModule('orders').query<{ n: number }>('select count(*)::int as n from orders');
      expect(counter.calls()).toBeGreaterThanOrEqual(stored!.n);
    });
  });
}

withCountingBinding(pgliteTopology, 'PGlite + memory bus, catalog API through the JSON binding');
withCountingBinding(postgresTopology, 'PostgreSQL + memory bus, catalog API through the JSON binding');
