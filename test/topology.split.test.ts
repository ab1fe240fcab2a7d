import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { splitProcessEnv, TEST_SERVICE_SECRET } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';

/**
 * `npm run topology` against a real split shop: a gateway (catalog, orders,
 * shipping) and payments in a process of its own, each on its own
 * database. The command runs as a child process with the gateway's
 * settings, as an operator would run it beside the gateway.
 */

const ROOT = new URL('..', import.meta.url).pathname;

/** A free port in 24000-24999, the range the tests of this suite may use. */
async function portInRange(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = 24_000 + Math.floor(Math.random() * 1_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 24000-24999');
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run topology -- <args>` as its script runs it, with `env` over this process's environment. */
function topology(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/topology.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('npm run topology on a gateway + payments', () => {
  const prefix = testQueuePrefix();
  const databases: TestDatabase[] = [];
  let gateway: ChildApp | undefined;
  let payments: ChildApp | undefined;
  let gatewayEnv: Record<string, string>;
  let paymentsUrl: string;

  beforeAll(async () => {
    const [gatewayPort, paymentsPort] = [await portInRange(), await portInRange()];
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    paymentsUrl = `http://127.0.0.1:${paymentsPort}`;
    databases.push(await createTestDatabase('mmk_topology'), await createTestDatabase('mmk_topology'));
    // Quick failures, and a breaker that stays open once it opened: the command must see it open.
    const common = { REMOTE_TIMEOUT_MS: '600', REMOTE_BREAKER_HALF_OPEN_MS: '600000', DATABASE_POOL_MAX: '3' };
    const paymentsEnv = { PORT: String(paymentsPort), ...splitProcessEnv({ modules: ['payments'], elsewhere: gatewayUrl, prefix, secret: TEST_SERVICE_SECRET, databaseUrl: databases[1]!.url }), ...common };
    gatewayEnv = { PORT: String(gatewayPort), ...splitProcessEnv({ modules: ['catalog', 'orders', 'shipping'], elsewhere: { payments: paymentsUrl }, prefix, secret: TEST_SERVICE_SECRET, databaseUrl: databases[0]!.url }), ...common };
    [payments, gateway] = await Promise.all([startChildApp(paymentsEnv, 120_000), startChildApp(gatewayEnv, 120_000)]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([gateway?.kill('SIGKILL'), payments?.kill('SIGKILL')]);
    await Promise.all(databases.map((d) => d.drop()));
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
  });

  it('shows payments remote with its breaker closed, then open and down once its process is gone, then the static view once nothing runs', async () => {
    const url = gateway!.url;
    // Both up: the JSON report has every module where the gateway runs it.
    const up = await topology(['--json', '--url', url], gatewayEnv);
    expect(up.code).toBe(0);
    const report = JSON.parse(up.stdout);
    expect(report.process).toEqual({ url, state: 'up', httpStatus: 200, status: 'up' });
    expect(report.modules).toEqual([
      { name: 'catalog', location: 'local', url, code: 'src/modules/catalog', extracted: false, breaker: null, status: 'up', service: null },
      { name: 'orders', location: 'local', url, code: 'src/modules/orders', extracted: false, breaker: null, status: 'up', service: null },
      { name: 'payments', location: 'remote', url: paymentsUrl, code: 'src/modules/payments', extracted: false, breaker: 'closed', status: 'up', service: 'up' },
      { name: 'shipping', location: 'local', url, code: 'src/modules/shipping', extracted: false, breaker: null, status: 'up', service: null },
    ]);
    expect(report.notes).toEqual([]);
    expect(report.mermaid).toContain(`subgraph service1["${paymentsUrl}"]`);

    // Payments dies; calls through the gateway fail until its breaker opens.
    await payments!.kill('SIGKILL');
    for (let i = 0; i < 6; i += 1) expect((await fetch(`${url}/api/payments/wallets/nobody`)).status).toBe(503);
    const down = await topology(['--url', url], gatewayEnv);
    expect(down.code).toBe(0);
    const lines = down.stdout.split('\n');
    expect(lines.find((l) => l.startsWith('payments '))?.split(/\s+/)).toEqual(['payments', 'remote', paymentsUrl, 'src/modules/payments', 'open', 'down', 'not', 'running']);
    expect(lines.find((l) => l.startsWith('catalog '))?.split(/\s+/)).toEqual(['catalog', 'local', url, 'src/modules/catalog', '-', 'up', '-']);
    expect(lines).toContain(`process at ${url}: degraded (HTTP 200)`);
    expect(lines).toContain('  class payments down');
    expect(down.stderr).toBe('');

    // Nothing runs: the placements and the graph still, and one line saying so.
    await gateway!.kill('SIGKILL');
    const none = await topology(['--url', url], gatewayEnv);
    expect(none.code).toBe(0);
    expect(none.stdout.split('\n').filter((l) => l.includes('not running at'))).toEqual([`not running at ${url}`]);
    expect(none.stdout).toContain(`placements: topology.json with MODULES=catalog,orders,shipping SERVICE_URL_PAYMENTS=${paymentsUrl}`);
    expect(none.stdout).toContain('  orders -->|API| catalog');
  }, 120_000);

  it('refuses a bad option in one line with exit code 2, and a bad setting with exit code 1', async () => {
    const bad = await topology(['--verbose'], gatewayEnv);
    expect(bad).toEqual({ code: 2, stdout: '', stderr: "topology: unknown option '--verbose'\n" });
    const both = await topology(['--json', '--mermaid'], gatewayEnv);
    expect(both).toEqual({ code: 2, stdout: '', stderr: 'topology: --json and --mermaid exclude each other: choose one\n' });
    const unplaced = await topology([], { ...gatewayEnv, SERVICE_URL_PAYMENTS: '' });
    expect(unplaced.code).toBe(1);
    expect(unplaced.stderr).toBe(
      'Invalid setting MODULES: module payments runs nowhere (it is not in MODULES); add it to MODULES or set SERVICE_URL_PAYMENTS to the URL of the process that runs it\n',
    );
  }, 60_000);
});
