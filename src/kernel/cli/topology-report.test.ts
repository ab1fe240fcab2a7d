import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { consumes, defineApi, defineContract, defineEvent, type ModuleContract } from '../module/contract.js';
import { describeContracts } from '../module/describe-contracts.js';
import type { Placement } from '../topology/resolve-topology.js';
import { buildTopologyReport, renderTopologyMermaid, renderTopologyText, type HealthAnswer } from './topology-report.js';

/**
 * What `npm run topology` prints, from the placements, what the running
 * process's `/health` and each remote service's `/health` answered, and the
 * contracts. The command itself, against real processes, is
 * test/topology.split.test.ts.
 */

// A system shaped like the shop: orders calls catalog, events go round.
const CONTRACTS: ModuleContract[] = [
  defineContract({
    name: 'catalog',
    api: defineApi('catalog', { priceItems: { input: z.null(), output: z.null() } }),
    events: [defineEvent('catalog.StockReserved', 1, z.object({ orderId: z.string() }))],
    consumes: { 'reserve-stock': consumes('orders.OrderPlaced', 1, z.object({})) },
    dependsOn: [],
  }),
  defineContract({ name: 'orders', events: [defineEvent('orders.OrderPlaced', 1, z.object({ orderId: z.string() }))], consumes: {}, dependsOn: ['catalog'] }),
  defineContract({ name: 'payments', events: [], consumes: { 'capture-payment': consumes('catalog.StockReserved', 1, z.object({})) }, dependsOn: [] }),
];
const DESCRIPTIONS = describeContracts(CONTRACTS);
const GATEWAY = 'http://127.0.0.1:3000';
const PAYMENTS = 'http://127.0.0.1:3003';
const PLACEMENTS: Placement[] = [
  { name: 'catalog', location: 'local' },
  { name: 'orders', location: 'local' },
  { name: 'payments', location: 'remote', url: PAYMENTS },
];

/** The body of a gateway's /health with payments behind a breaker in `breaker` state. */
function gatewayHealth(breaker: 'closed' | 'open', payments: 'up' | 'down'): HealthAnswer {
  return {
    state: 'up',
    httpStatus: 200,
    body: {
      status: payments === 'up' ? 'up' : 'degraded',
      modules: {
        catalog: { status: 'up', location: 'local', checks: { database: 'up' } },
        orders: { status: 'up', location: 'local', checks: { database: 'up' } },
        payments: { status: payments, location: 'remote', checks: { service: payments }, url: PAYMENTS, breaker },
      },
      services: { database: 'up', eventBus: 'up' },
    },
  };
}

function report(processHealth: HealthAnswer, service: HealthAnswer, options: { placements?: Placement[]; extracted?: string[]; settings?: Record<string, string> } = {}) {
  const extracted = new Set(options.extracted ?? []);
  return buildTopologyReport({
    placements: options.placements ?? PLACEMENTS,
    descriptions: DESCRIPTIONS,
    extracted,
    codeOf: (m) => (extracted.has(m) ? `extracted/${m}` : `src/modules/${m}`),
    topologyFile: 'topology.json',
    settings: options.settings ?? { MODULES: 'catalog,orders', SERVICE_URL_PAYMENTS: PAYMENTS },
    processUrl: GATEWAY,
    processHealth,
    serviceHealth: new Map([[PAYMENTS, service]]),
  });
}

describe('the text of npm run topology', () => {
  it('a split system whose remote service is down: breaker open, status down, service not running, a red box', () => {
    const lines = renderTopologyText(report(gatewayHealth('open', 'down'), { state: 'not running' }, { extracted: ['payments'] }), DESCRIPTIONS);
    expect(lines.join('\n')).toBe(
      [
        'placements: topology.json with MODULES=catalog,orders SERVICE_URL_PAYMENTS=http://127.0.0.1:3003',
        'MODULE    LOCATION  URL                    CODE                 BREAKER  STATUS  SERVICE',
        'catalog   local     http://127.0.0.1:3000  src/modules/catalog  -        up      -',
        'orders    local     http://127.0.0.1:3000  src/modules/orders   -        up      -',
        'payments  remote    http://127.0.0.1:3003  extracted/payments   open     down    not running',
        'process at http://127.0.0.1:3000: degraded (HTTP 200)',
        '',
        'module graph (Mermaid): solid arrows are API calls, dashed ones events (event@version → handler), one box per process',
        'flowchart LR',
        '  subgraph here["this process: http://127.0.0.1:3000"]',
        '    catalog["catalog<br/><small>API: priceItems</small>"]',
        '    orders["orders"]',
        '  end',
        '  subgraph service1["http://127.0.0.1:3003 (extracted)"]',
        '    payments["payments"]',
        '  end',
        '  orders -->|API| catalog',
        '  catalog -. "StockReserved@1 → capture-payment" .-> payments',
        '  orders -. "OrderPlaced@1 → reserve-stock" .-> catalog',
        '  classDef down stroke:#d33,stroke-width:3px,stroke-dasharray:5 3',
        '  class payments down',
      ].join('\n'),
    );
  });

  it('nothing reachable: the static view, and "not running at <url>" in one line', () => {
    const lines = renderTopologyText(report({ state: 'not running' }, { state: 'no answer' }, { settings: {} }), DESCRIPTIONS);
    expect(lines.slice(0, 6)).toEqual([
      'placements: topology.json (MODULES and SERVICE_URL_<MODULE> unset)',
      'MODULE    LOCATION  URL                    CODE                  BREAKER  STATUS  SERVICE',
      'catalog   local     http://127.0.0.1:3000  src/modules/catalog   -        -       -',
      'orders    local     http://127.0.0.1:3000  src/modules/orders    -        -       -',
      'payments  remote    http://127.0.0.1:3003  src/modules/payments  -        -       no answer',
      'not running at http://127.0.0.1:3000',
    ]);
    // A service that does not answer is drawn down; the modules of a process nobody asked are not.
    expect(lines.slice(-2)).toEqual(['  classDef down stroke:#d33,stroke-width:3px,stroke-dasharray:5 3', '  class payments down']);
  });

  it('everything up: breaker closed, no red box', () => {
    const text = renderTopologyText(report(gatewayHealth('closed', 'up'), { state: 'up', httpStatus: 200 }), DESCRIPTIONS).join('\n');
    expect(text).toContain('payments  remote    http://127.0.0.1:3003  src/modules/payments  closed   up      up');
    expect(text).toContain('process at http://127.0.0.1:3000: up (HTTP 200)');
    expect(text).not.toContain('classDef down');
  });

  it('a process whose placements differ from this environment gets a note per module', () => {
    const monolith: HealthAnswer = { state: 'up', httpStatus: 200, body: { status: 'up', modules: { catalog: { status: 'up', location: 'local' }, orders: { status: 'up', location: 'local' }, payments: { status: 'up', location: 'local' } } } };
    const lines = renderTopologyText(report(monolith, { state: 'not running' }), DESCRIPTIONS);
    expect(lines.filter((l) => l.startsWith('note: '))).toEqual([
      "note: payments: this environment places it at http://127.0.0.1:3003, but the process at http://127.0.0.1:3000 runs it itself; run the command with that process's settings",
    ]);
  });

  it('an answer that is not the kit says so; a stopping process shows its 503', () => {
    expect(renderTopologyText(report({ state: 'up', httpStatus: 200, body: 'ok' }, { state: 'up' }), DESCRIPTIONS)).toContain(
      "note: http://127.0.0.1:3000/health answered without the kit's module list: is --url the address of a process of this app?",
    );
    const stopping = report({ state: 'down', httpStatus: 503, body: { status: 'stopping', modules: {}, services: {} } }, { state: 'up' });
    expect(renderTopologyText(stopping, DESCRIPTIONS)).toContain('process at http://127.0.0.1:3000: stopping (HTTP 503)');
  });
});

describe('the machine output', () => {
  it('--json: every module with its place, breaker, status and service, and the graph as edges', () => {
    const json = report(gatewayHealth('open', 'down'), { state: 'not running' });
    expect(json.process).toEqual({ url: GATEWAY, state: 'up', httpStatus: 200, status: 'degraded' });
    expect(json.modules.find((m) => m.name === 'payments')).toEqual({
      name: 'payments', location: 'remote', url: PAYMENTS, code: 'src/modules/payments', extracted: false, breaker: 'open', status: 'down', service: 'not running',
    });
    expect(json.modules.find((m) => m.name === 'catalog')).toMatchObject({ location: 'local', url: GATEWAY, breaker: null, status: 'up', service: null });
    expect(json.graph).toEqual({
      api: [{ from: 'orders', to: 'catalog' }],
      events: [
        { from: 'catalog', to: 'payments', event: 'catalog.StockReserved', version: 1, handler: 'payments.capture-payment' },
        { from: 'orders', to: 'catalog', event: 'orders.OrderPlaced', version: 1, handler: 'catalog.reserve-stock' },
      ],
    });
    expect(json.notes).toEqual([]);
  });

  it('--mermaid: modules that share a remote URL share a box; a pure gateway has no box of its own', () => {
    const gatewayOnly: Placement[] = CONTRACTS.map((c) => ({ name: c.name, location: 'remote', url: c.name === 'payments' ? PAYMENTS : 'http://127.0.0.1:3001' }));
    const services = new Map<string, HealthAnswer>([[PAYMENTS, { state: 'up' }], ['http://127.0.0.1:3001', { state: 'up' }]]);
    const built = buildTopologyReport({
      placements: gatewayOnly, descriptions: DESCRIPTIONS, extracted: new Set(), codeOf: (m) => `src/modules/${m}`, topologyFile: null, settings: { MODULES: 'none' },
      processUrl: GATEWAY, processHealth: { state: 'not running' }, serviceHealth: services,
    });
    expect(renderTopologyMermaid(built, DESCRIPTIONS).slice(0, 8)).toEqual([
      'flowchart LR',
      '  subgraph service1["http://127.0.0.1:3001"]',
      '    catalog["catalog<br/><small>API: priceItems</small>"]',
      '    orders["orders"]',
      '  end',
      '  subgraph service2["http://127.0.0.1:3003"]',
      '    payments["payments"]',
      '  end',
    ]);
  });
});
