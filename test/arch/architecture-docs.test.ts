import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeContracts, describeModules, moduleGraphMermaid } from '../../src/kernel/index.js';
import { SHOP_MODULES } from '../../src/app.js';
import { GRAPH_FILES, renderArchitectureDocs } from '../../tools/arch/architecture-docs.js';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('generated architecture documents', () => {
  const docs = renderArchitectureDocs();

  it.each(Object.entries(GRAPH_FILES))('%s (%s) is up to date: run npm run arch:graph if this fails', async (key, file) => {
    const committed = await readFile(join(ROOT, file), 'utf8');
    expect(committed).toBe(docs[key as keyof typeof docs]);
  });

  it('draws every API dependency and every event flow of the shop', () => {
    expect(docs.graph).toContain('orders -->|API| catalog');
    for (const flow of ['OrderPlaced@1 → reserve-stock', 'StockReserved@1 → capture-payment', 'PaymentCaptured@1 → confirm-order', 'OrderConfirmed@1 → create-shipment', 'OrderCancelled@1 → release-stock']) {
      expect(docs.graph).toContain(flow);
    }
  });

  it('the contracts alone give the same graph as the wired modules (npm run topology draws it from the contracts)', () => {
    const fromContracts = moduleGraphMermaid(describeContracts(SHOP_MODULES)).join('\n');
    expect(fromContracts).toBe(moduleGraphMermaid(describeModules(SHOP_MODULES)).join('\n'));
    expect(docs.graph).toContain(fromContracts);
  });

  it('lists every event with its publisher, consumers and fields', () => {
    expect(docs.events).toContain('| [orders.OrderPlaced](#ordersorderplaced-v1) | 1 | orders | catalog.reserve-stock |');
    expect(docs.events).toContain('| items | {productId: string (uuid), quantity: integer}[] | yes |');
    expect(docs.events).not.toContain('Consumed but published by no module here');
  });
});
