import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../config/config.js';
import { consumes, defineApi, defineContract, type ModuleContract } from '../module/contract.js';
import { readTopologyFile, resolveTopology, type TopologyFile } from './resolve-topology.js';

/**
 * Where modules run: the settings (`MODULES`, `SERVICE_URL_<MODULE>`,
 * `SERVICE_TOKEN_SECRET`, `EVENT_BUS`) over the committed topology file.
 * Every mistake is one ConfigError line that names the setting (or the
 * file) to fix.
 */

// A system shaped like the shop: orders depends on catalog, every module declares what it consumes.
const CONTRACTS: ModuleContract[] = [
  defineContract({ name: 'catalog', api: defineApi('catalog', { ping: { input: z.null(), output: z.null() } }), events: [], consumes: {}, dependsOn: [] }),
  defineContract({ name: 'orders', events: [], consumes: { 'on-x': consumes('catalog.X', 1, z.object({})) }, dependsOn: ['catalog'] }),
  defineContract({ name: 'payments', events: [], consumes: {}, dependsOn: [] }),
  defineContract({ name: 'shipping', events: [], consumes: {}, dependsOn: [] }),
];
const ALL = new Set(CONTRACTS.map((c) => c.name));
const SECRET = 's'.repeat(32);
const REMOTE_OK = { EVENT_BUS: 'bullmq', SERVICE_TOKEN_SECRET: SECRET };
const URLS = {
  SERVICE_URL_CATALOG: 'http://127.0.0.1:4001',
  SERVICE_URL_ORDERS: 'http://127.0.0.1:4002',
  SERVICE_URL_PAYMENTS: 'https://payments.internal:4003/',
  SERVICE_URL_SHIPPING: 'http://[::1]:4004',
};

const dir = mkdtempSync(join(tmpdir(), 'mmk-topology-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileAt(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** loadConfig, the topology file, resolveTopology: what createApp does before it opens anything. */
function resolve(env: Record<string, string>, options: { file?: TopologyFile; contracts?: ModuleContract[]; implemented?: Set<string> } = {}) {
  const config = loadConfig(env);
  return resolveTopology({ contracts: options.contracts ?? CONTRACTS, implemented: options.implemented ?? ALL, config, file: options.file, filePath: 'topology.json' });
}

/** The error `run` throws: a ConfigError of exactly one line. */
function configError(run: () => unknown): string {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a ConfigError').toBeInstanceOf(ConfigError);
  const message = (thrown as Error).message;
  expect(message).not.toMatch(/[\r\n]/);
  return message;
}

describe('resolveTopology: errors', () => {
  it('a module that runs nowhere names MODULES and SERVICE_URL_<MODULE>', () => {
    expect(configError(() => resolve({ MODULES: 'catalog,payments,shipping', ...REMOTE_OK }))).toBe(
      'Invalid setting MODULES: module orders runs nowhere (it is not in MODULES); add it to MODULES or set SERVICE_URL_ORDERS to the URL of the process that runs it',
    );
    // Without MODULES, a file entry `remote` without a url is no place either: the setting to fix is SERVICE_URL_<MODULE>.
    expect(configError(() => resolve(REMOTE_OK, { file: { modules: { shipping: { location: 'remote' } } } }))).toBe(
      'Invalid setting SERVICE_URL_SHIPPING: module shipping runs nowhere (topology.json does not run it here and gives no url); add it to MODULES or set SERVICE_URL_SHIPPING to the URL of the process that runs it',
    );
    // Nor is a module whose code is not here.
    expect(configError(() => resolve(REMOTE_OK, { implemented: new Set(['catalog', 'orders', 'shipping']) }))).toBe(
      'Invalid setting SERVICE_URL_PAYMENTS: module payments runs nowhere (its code is not in this codebase); add it to MODULES or set SERVICE_URL_PAYMENTS to the URL of the process that runs it',
    );
  });

  it('an unknown module in MODULES', () => {
    expect(configError(() => resolve({ MODULES: 'catalog,inventory', ...URLS, ...REMOTE_OK }))).toBe(
      'Invalid setting MODULES: unknown module "inventory" (modules: catalog, orders, payments, shipping)',
    );
  });

  it('a module in MODULES whose code is not in this codebase', () => {
    expect(configError(() => resolve({ MODULES: 'catalog,payments', ...URLS, ...REMOTE_OK }, { implemented: new Set(['catalog', 'orders', 'shipping']) }))).toBe(
      'Invalid setting MODULES: the code of payments is not in this codebase (it was extracted); run it as its own service and set SERVICE_URL_PAYMENTS',
    );
  });

  it('SERVICE_URL_ of an unknown module', () => {
    expect(configError(() => resolve({ SERVICE_URL_INVENTORY: 'http://127.0.0.1:4009', ...REMOTE_OK }))).toBe(
      'Invalid setting SERVICE_URL_INVENTORY: there is no module "inventory" (modules: catalog, orders, payments, shipping)',
    );
  });

  it('a SERVICE_URL_ name that is not a module name in capitals', () => {
    expect(configError(() => resolve({ SERVICE_URL_catalog: 'http://127.0.0.1:4001' }))).toBe(
      'Invalid setting SERVICE_URL_catalog: expected SERVICE_URL_ followed by a module name in capitals, such as SERVICE_URL_PAYMENTS',
    );
  });

  it('a remote module on the memory bus (EVENT_BUS unset or memory)', () => {
    expect(configError(() => resolve({ MODULES: 'catalog,orders', SERVICE_URL_PAYMENTS: URLS.SERVICE_URL_PAYMENTS, SERVICE_URL_SHIPPING: URLS.SERVICE_URL_SHIPPING, SERVICE_TOKEN_SECRET: SECRET }))).toBe(
      'Invalid setting EVENT_BUS: payments, shipping run in another process and the memory bus does not cross processes; set EVENT_BUS=bullmq',
    );
    expect(configError(() => resolve({ MODULES: 'catalog,orders,payments', SERVICE_URL_SHIPPING: URLS.SERVICE_URL_SHIPPING, EVENT_BUS: 'memory', SERVICE_TOKEN_SECRET: SECRET }))).toBe(
      'Invalid setting EVENT_BUS: shipping runs in another process and the memory bus does not cross processes; set EVENT_BUS=bullmq',
    );
  });

  it('a remote module without SERVICE_TOKEN_SECRET', () => {
    expect(configError(() => resolve({ MODULES: 'orders,payments,shipping', SERVICE_URL_CATALOG: URLS.SERVICE_URL_CATALOG, EVENT_BUS: 'bullmq' }))).toBe(
      'Invalid setting SERVICE_TOKEN_SECRET: required because catalog runs in another process; set the same random string of at least 32 characters in every process',
    );
  });

  it('a short SERVICE_TOKEN_SECRET, without showing it', () => {
    const message = configError(() => resolve({ SERVICE_TOKEN_SECRET: 'hunter2-but-longer-31-character' }));
    expect(message).toBe(
      'Invalid setting SERVICE_TOKEN_SECRET: expected at least 32 characters (use a random string, the same in every process) (got 31 characters, not shown)',
    );
    expect(message).not.toContain('hunter2');
    // 32 characters is enough.
    expect(loadConfig({ SERVICE_TOKEN_SECRET: 'x'.repeat(32) }).serviceTokenSecret).toBe('x'.repeat(32));
  });

  it('a remote module that does not declare what it consumes', () => {
    const contracts = CONTRACTS.map((c) => (c.name === 'shipping' ? defineContract({ name: 'shipping', events: [], dependsOn: [] }) : c));
    expect(configError(() => resolve({ MODULES: 'catalog,orders,payments', SERVICE_URL_SHIPPING: URLS.SERVICE_URL_SHIPPING, ...REMOTE_OK }, { contracts }))).toBe(
      'Invalid setting MODULES: module shipping runs in another process, but it does not declare the events it consumes (add `consumes` to its contract, see defineContract)',
    );
  });

  it.each([
    ['ftp://127.0.0.1:4001'],
    ['127.0.0.1:4001'],
    ['localhost:4001'],
    ['//127.0.0.1:4001'],
    ['http://127.0.0.1:4001/?a=b'],
    ['http://127.0.0.1:4001?'],
    ['http://127.0.0.1:4001/#top'],
    ['http://user@127.0.0.1:4001'],
    ['http://:password@127.0.0.1:4001'],
    // The connection pool takes an origin only: a path used to pass here and crash start-up with a stack trace.
    ['http://127.0.0.1:4001/catalog'],
    ['not a url'],
  ])('a malformed SERVICE_URL_CATALOG %j', (value) => {
    expect(configError(() => resolve({ SERVICE_URL_CATALOG: value, ...REMOTE_OK }))).toBe(
      `Invalid setting SERVICE_URL_CATALOG: expected an http:// or https:// base URL without path, query, fragment or credentials, such as http://127.0.0.1:4002 (got ${JSON.stringify(value)})`,
    );
  });

  it('a malformed MODULES list', () => {
    expect(configError(() => resolve({ MODULES: 'catalog, orders' }))).toBe(
      'Invalid setting MODULES: expected "none" or module names separated by commas, such as "catalog,orders" (got "catalog, orders")',
    );
    expect(configError(() => resolve({ MODULES: 'Catalog' }))).toMatch(/^Invalid setting MODULES: expected "none" or module names/);
  });
});

describe('readTopologyFile and resolveTopology: the topology file', () => {
  it('an unknown module in the file', () => {
    const path = fileAt('unknown.json', JSON.stringify({ modules: { inventory: { location: 'local' } } }));
    const { file } = readTopologyFile(dir, 'unknown.json', undefined);
    expect(configError(() => resolveTopology({ contracts: CONTRACTS, implemented: ALL, config: loadConfig({}), file, filePath: path }))).toBe(
      `Invalid topology file ${path}: unknown module "inventory" (modules: catalog, orders, payments, shipping)`,
    );
  });

  it('a file that is not JSON', () => {
    const path = fileAt('broken.json', '{ "modules": { "catalog": ');
    expect(configError(() => readTopologyFile(dir, 'broken.json', undefined))).toMatch(
      new RegExp(`^Invalid topology file ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not JSON \\(.+\\)$`),
    );
  });

  it('a file with a bad location, an unknown key or no modules', () => {
    const bad = fileAt('location.json', JSON.stringify({ modules: { catalog: { location: 'elsewhere' } } }));
    expect(configError(() => readTopologyFile(dir, 'location.json', undefined))).toMatch(new RegExp(`^Invalid topology file ${bad}: modules\\.catalog\\.location: `));
    const extra = fileAt('extra.json', JSON.stringify({ modules: { catalog: { location: 'local', host: 'x' } } }));
    expect(configError(() => readTopologyFile(dir, 'extra.json', undefined))).toMatch(new RegExp(`^Invalid topology file ${extra}: modules\\.catalog: .*host`));
    const none = fileAt('none.json', JSON.stringify({ catalog: 'local' }));
    expect(configError(() => readTopologyFile(dir, 'none.json', undefined))).toMatch(new RegExp(`^Invalid topology file ${none}: `));
  });

  it.each([['ftp://127.0.0.1:4001'], ['127.0.0.1:4001'], ['http://127.0.0.1:4001/?x=1'], ['http://127.0.0.1:4001/catalog']])('a bad url %j in the file', (url) => {
    const path = fileAt('url.json', JSON.stringify({ modules: { catalog: { location: 'remote', url } } }));
    const { file } = readTopologyFile(dir, 'url.json', undefined);
    expect(configError(() => resolveTopology({ contracts: CONTRACTS, implemented: ALL, config: loadConfig(REMOTE_OK), file, filePath: path }))).toBe(
      `Invalid topology file ${path}: modules.catalog.url: expected an http:// or https:// base URL without path, query, fragment or credentials (got ${JSON.stringify(url)})`,
    );
  });

  it('a TOPOLOGY_FILE that does not exist names TOPOLOGY_FILE; a missing app file names the file', () => {
    expect(configError(() => readTopologyFile(dir, 'missing.json', 'topology.json'))).toBe(
      `Invalid setting TOPOLOGY_FILE: cannot read ${join(dir, 'missing.json')} (ENOENT); restore the file, or set TOPOLOGY_FILE to one that exists`,
    );
    expect(configError(() => readTopologyFile(dir, undefined, 'gone.json'))).toBe(
      `Invalid topology file: cannot read ${join(dir, 'gone.json')} (ENOENT); restore the file, or set TOPOLOGY_FILE to one that exists`,
    );
  });

  it('TOPOLOGY_FILE wins over the app default; no file at all means every module runs here', () => {
    fileAt('default.json', JSON.stringify({ modules: { catalog: { location: 'remote', url: 'http://127.0.0.1:4001' } } }));
    fileAt('chosen.json', JSON.stringify({ modules: { payments: { location: 'remote', url: 'http://127.0.0.1:4003' } } }));
    const chosen = readTopologyFile(dir, 'chosen.json', 'default.json');
    expect(chosen.path).toBe(join(dir, 'chosen.json'));
    expect(chosen.file).toEqual({ modules: { payments: { location: 'remote', url: 'http://127.0.0.1:4003' } } });
    expect(readTopologyFile(dir, undefined, 'default.json').file).toEqual({ modules: { catalog: { location: 'remote', url: 'http://127.0.0.1:4001' } } });
    expect(readTopologyFile(dir, undefined, undefined)).toEqual({ file: undefined, path: '' });
    expect(resolve({})).toEqual({
      placements: [...ALL].map((name) => ({ name, location: 'local' })),
      local: [...ALL],
      remote: new Map(),
    });
  });

  it('the committed topology.json of the shop is valid and runs everything here', () => {
    const { file } = readTopologyFile(join(import.meta.dirname, '../../..'), undefined, 'topology.json');
    expect(file?.modules).toEqual({ catalog: { location: 'local' }, orders: { location: 'local' }, payments: { location: 'local' }, shipping: { location: 'local' } });
    expect(resolveTopology({ contracts: CONTRACTS, implemented: ALL, config: loadConfig({}), file }).local).toEqual(['catalog', 'orders', 'payments', 'shipping']);
  });
});

describe('resolveTopology: placements', () => {
  it('MODULES=none with every SERVICE_URL_ set is a pure gateway', () => {
    const topology = resolve({ MODULES: 'none', ...URLS, ...REMOTE_OK });
    expect(topology.local).toEqual([]);
    expect(topology.placements).toEqual([
      { name: 'catalog', location: 'remote', url: 'http://127.0.0.1:4001' },
      { name: 'orders', location: 'remote', url: 'http://127.0.0.1:4002' },
      // The trailing slash is dropped: paths are appended to it.
      { name: 'payments', location: 'remote', url: 'https://payments.internal:4003' },
      { name: 'shipping', location: 'remote', url: 'http://[::1]:4004' },
    ]);
    expect([...topology.remote]).toEqual([
      ['catalog', 'http://127.0.0.1:4001'],
      ['orders', 'http://127.0.0.1:4002'],
      ['payments', 'https://payments.internal:4003'],
      ['shipping', 'http://[::1]:4004'],
    ]);
  });

  it('MODULES=none with one SERVICE_URL_ missing names it', () => {
    const { SERVICE_URL_SHIPPING: _, ...three } = URLS;
    expect(configError(() => resolve({ MODULES: 'none', ...three, ...REMOTE_OK }))).toBe(
      'Invalid setting MODULES: module shipping runs nowhere (it is not in MODULES); add it to MODULES or set SERVICE_URL_SHIPPING to the URL of the process that runs it',
    );
  });

  it('the file is the default: a module it places remote is remote at its url', () => {
    const file: TopologyFile = { modules: { catalog: { location: 'local' }, payments: { location: 'remote', url: 'http://127.0.0.1:5003/' } } };
    const topology = resolve(REMOTE_OK, { file });
    expect(topology.local).toEqual(['catalog', 'orders', 'shipping']);
    expect([...topology.remote]).toEqual([['payments', 'http://127.0.0.1:5003']]);
  });

  it('MODULES overrides the file: a module the file places remote runs here when MODULES lists it', () => {
    const file: TopologyFile = { modules: { payments: { location: 'remote', url: 'http://127.0.0.1:5003' } } };
    const topology = resolve({ MODULES: 'catalog,orders,payments,shipping' }, { file });
    expect(topology.local).toEqual(['catalog', 'orders', 'payments', 'shipping']);
    expect(topology.remote.size).toBe(0);
    expect(topology.placements.find((p) => p.name === 'payments')).toEqual({ name: 'payments', location: 'local' });
  });

  it('MODULES overrides the file the other way: a module the file places here is remote when MODULES leaves it out', () => {
    const file: TopologyFile = { modules: { catalog: { location: 'local', url: 'http://127.0.0.1:5001' } } };
    const topology = resolve({ MODULES: 'orders,payments,shipping', ...REMOTE_OK }, { file });
    expect(topology.local).toEqual(['orders', 'payments', 'shipping']);
    expect([...topology.remote]).toEqual([['catalog', 'http://127.0.0.1:5001']]);
  });

  it('SERVICE_URL_<MODULE> overrides the url of the file', () => {
    const file: TopologyFile = { modules: { payments: { location: 'remote', url: 'http://127.0.0.1:5003' } } };
    const topology = resolve({ SERVICE_URL_PAYMENTS: 'http://10.0.0.7:7003', ...REMOTE_OK }, { file });
    expect([...topology.remote]).toEqual([['payments', 'http://10.0.0.7:7003']]);
    expect(topology.local).toEqual(['catalog', 'orders', 'shipping']);
  });

  it('a module marked extracted in the file is remote even though its code is here', () => {
    const file: TopologyFile = { modules: { shipping: { extracted: true, url: 'http://127.0.0.1:5004' } } };
    const topology = resolve(REMOTE_OK, { file });
    expect(topology.local).toEqual(['catalog', 'orders', 'payments']);
    expect([...topology.remote]).toEqual([['shipping', 'http://127.0.0.1:5004']]);
  });

  it('a module whose code is not here is remote without any file entry', () => {
    const topology = resolve({ SERVICE_URL_PAYMENTS: 'http://127.0.0.1:5003', ...REMOTE_OK }, { implemented: new Set(['catalog', 'orders', 'shipping']) });
    expect(topology.local).toEqual(['catalog', 'orders', 'shipping']);
    expect([...topology.remote]).toEqual([['payments', 'http://127.0.0.1:5003']]);
  });
});
