import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildApp, type ChildApp } from './support/child-app.js';
import { scratchRepository } from './support/extracted-topology.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { ShopClient } from './support/shop-client.js';
import { freePort, splitProcessEnv, TEST_SERVICE_SECRET } from './support/split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix } from './support/topologies.js';


/**
 * `npm run extract` and `npm run absorb` on a scratch clone of the
 * repository's last commit (what CI checks out), with the repository's
 * node_modules linked in: the commands, their refusals, the extracted
 * service and the monolith running the saga together, and absorb leaving
 * the tree as it was.
 */
let clone: string;

const git = (...args: string[]) => execFileSync('git', args, { cwd: clone, encoding: 'utf8' });
const status = () => git('status', '--porcelain', '--untracked-files=all');
const npmRun = (...args: string[]) => spawnSync('npm', ['run', '-s', ...args], { cwd: clone, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
const commitAll = (message: string) => {
  git('add', '-A');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', message);
};

beforeAll(() => {
  clone = scratchRepository('mmk-extract-');
});

afterAll(() => {
  if (clone) rmSync(clone, { recursive: true, force: true });
});

describe('extract and absorb refuse clearly', () => {
  it('an unknown module: exit 2 and a line naming the modules', () => {
    const run = npmRun('extract', '--', 'billing');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/✖ extract billing: unknown module "billing": the modules are catalog, orders, payments, shipping/);
    expect(status()).toBe('');
  });

  it('uncommitted changes: exit 2, and nothing moved', () => {
    writeFileSync(join(clone, 'notes.txt'), 'work in progress\n');
    const run = npmRun('extract', '--', 'payments');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/uncommitted changes \(1 file\(s\), e\.g\. notes\.txt\): commit or stash them first/);
    rmSync(join(clone, 'notes.txt'));
    expect(existsSync(join(clone, 'extracted'))).toBe(false);
  });

  it('a failing architecture check: exit 2, and nothing moved', () => {
    writeFileSync(join(clone, 'src/modules/shipping/internal/peek.ts'), "export { createOrderService } from '../../orders/internal/order-service.js';\n");
    commitAll('a boundary violation');
    const run = npmRun('extract', '--', 'payments');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/the architecture check fails \(\d+ violation\(s\)/);
    git('reset', '-q', '--hard', 'HEAD~1');
    expect(existsSync(join(clone, 'extracted'))).toBe(false);
  });

  it('absorb of a module that is not extracted: exit 2', () => {
    const run = npmRun('absorb', '--', 'payments');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/payments is not extracted .*there is nothing to absorb/);
  });

  it('a dry run prints the whole plan and changes nothing', () => {
    const before = readFileSync(join(clone, 'topology.json'), 'utf8');
    const run = npmRun('extract', '--', 'payments', '--dry-run');
    expect(run.status).toBe(0);
    for (const line of [
      'git mv src/modules/payments/module.ts extracted/payments/src/module.ts',
      'git mv src/modules/payments/internal extracted/payments/src/internal',
      'git mv migrations/payments extracted/payments/migrations/payments',
      'write  extracted/payments/src/events.ts',
      'write  extracted/payments/Dockerfile',
      'write  extracted/payments/k8s/deployment.yaml',
      'edit   src/composition.ts',
      'edit   topology.json',
      'dry run: nothing was changed',
    ]) expect(run.stdout).toContain(line);
    expect(status()).toBe('');
    expect(readFileSync(join(clone, 'topology.json'), 'utf8')).toBe(before);
    expect(existsSync(join(clone, 'extracted'))).toBe(false);
  });
});

describe.each([
  // A module that only consumes events, and one whose API another module calls.
  { module: 'payments', caller: undefined },
  { module: 'catalog', caller: 'orders' },
])('extract $module', ({ module }) => {
  let database: TestDatabase;
  const prefix = testQueuePrefix();
  const running: ChildApp[] = [];
  let before: string;

  beforeAll(async () => {
    before = git('rev-parse', 'HEAD').trim();
    database = await createTestDatabase('mmk_extract');
  });

  afterAll(async () => {
    await Promise.all(running.map((c) => c.kill('SIGKILL')));
    await database?.drop();
    await dropRedisPrefix(TEST_REDIS_URL, prefix);
    git('reset', '-q', '--hard', before);
    git('clean', '-qfdx', '-e', 'node_modules');
  });

  it('moves the code with its history, writes the service, and the checks pass', () => {
    const run = npmRun('extract', '--', module);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`✔ extract ${module} done`));
    const changes = status();
    expect(changes).toMatch(new RegExp(`^RM? src/modules/${module}/module.ts -> extracted/${module}/src/module.ts$`, 'm'));
    expect(changes).toMatch(new RegExp(`^R  migrations/${module}/.* -> extracted/${module}/migrations/${module}/`, 'm'));
    for (const file of ['package.json', 'src/main.ts', 'src/events.ts', 'build.mjs', 'README.md', 'Dockerfile', 'k8s/deployment.yaml', 'k8s/service.yaml', 'k8s/configmap.yaml']) {
      expect(existsSync(join(clone, 'extracted', module, file)), file).toBe(true);
    }
    // Its events commands: a script of the workspace, listed in the service's README.
    expect(JSON.parse(readFileSync(join(clone, 'extracted', module, 'package.json'), 'utf8')).scripts.events).toBe('node --import tsx src/events.ts');
    expect(readFileSync(join(clone, 'extracted', module, 'README.md'), 'utf8')).toContain(`npm run events -w extracted/${module} -- backlog`);
    expect(existsSync(join(clone, 'src/modules', module, 'index.ts'))).toBe(true);
    expect(existsSync(join(clone, 'src/modules', module, 'module.ts'))).toBe(false);
    expect(JSON.parse(readFileSync(join(clone, 'topology.json'), 'utf8')).modules[module]).toMatchObject({ location: 'remote', extracted: true });
    expect(readFileSync(join(clone, 'src/composition.ts'), 'utf8')).toContain(`import { ${module}Contract } from './modules/${module}/index.js';`);
    // The moved code compiles where it is, and the architecture rules (the service entry's reach included) pass.
    expect(spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { cwd: clone, encoding: 'utf8' }).stdout).toBe('');
    const arch = npmRun('arch:check');
    expect(arch.stdout).toMatch(/✔ architecture check passed/);
    commitAll(`Extract ${module}`);
  });

  it('refuses a second extract of the same module', () => {
    const run = npmRun('extract', '--', module);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${module} is already extracted \\(extracted/${module}/\\): run npm run absorb -- ${module} first`));
  });

  it('npm start runs the monolith without it, npm start -w runs the service, and orders settle through both', async () => {
    const [monolithPort, servicePort] = [await freePort(), await freePort()];
    const monolithUrl = `http://127.0.0.1:${monolithPort}`;
    const serviceUrl = `http://127.0.0.1:${servicePort}`;
    const common = { DATABASE_URL: database.url, SHUTDOWN_GRACE_MS: '0' };
    const service = await startChildApp(
      { ...splitProcessEnv({ modules: [module], elsewhere: monolithUrl, prefix, secret: TEST_SERVICE_SECRET }), ...common, PORT: String(servicePort) },
      120_000,
      { command: 'npm', args: ['start', '-w', `extracted/${module}`], cwd: clone },
    );
    running.push(service);
    // The monolith as `npm start` runs it, with no MODULES: the module's code is not there, topology.json says where it is.
    const monolith = await startChildApp(
      { EVENT_BUS: 'bullmq', REDIS_URL: TEST_REDIS_URL, EVENT_QUEUE_PREFIX: prefix, SERVICE_TOKEN_SECRET: TEST_SERVICE_SECRET, [`SERVICE_URL_${module.toUpperCase()}`]: serviceUrl, ...common, PORT: String(monolithPort) },
      120_000,
      { command: 'npm', args: ['start'], cwd: clone },
    );
    running.push(monolith);
    const health = (await (await fetch(`${monolithUrl}/health`)).json()) as { modules: Record<string, unknown> };
    expect(health.modules[module]).toMatchObject({ location: 'remote', url: serviceUrl });

    const shop = new ShopClient(monolithUrl);
    const product = await shop.createProduct(5, 1_500);
    const rich = await shop.createWallet(10_000);
    const poor = await shop.createWallet(100);
    const confirmed = await shop.placeOrderAccepted(rich.customerId, [{ productId: product.id, quantity: 2 }]);
    const declined = await shop.placeOrderAccepted(poor.customerId, [{ productId: product.id, quantity: 1 }]);
    expect([confirmed.status, declined.status]).toEqual([202, 202]);
    const settled = await shop.waitSettled([confirmed.body.id, declined.body.id], 60_000);
    expect(settled.map((o: { status: string }) => o.status)).toEqual(['confirmed', 'cancelled']);
    // The module's routes answer through the monolith's facade, from the service.
    expect(await shop.getWallet(rich.customerId)).toMatchObject({ balanceCents: 7_000 });
    // The cancelled order's unit comes back once catalog handled the cancellation, a moment after the order settled.
    await expect.poll(async () => (await shop.getProduct(product.id)).stock, { timeout: 15_000 }).toBe(3);
    await Promise.all(running.splice(0).map((c) => c.kill('SIGTERM')));
  });

  it('the production build runs with plain node', async () => {
    const build = spawnSync('npm', ['run', 'build', '-w', `extracted/${module}`], { cwd: clone, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    expect(existsSync(join(clone, 'extracted', module, 'dist', 'main.js'))).toBe(true);
    const port = await freePort();
    const service = await startChildApp(
      { ...splitProcessEnv({ modules: [module], elsewhere: 'http://127.0.0.1:9', prefix, secret: TEST_SERVICE_SECRET }), DATABASE_URL: database.url, PORT: String(port) },
      60_000,
      { command: process.execPath, args: ['dist/main.js'], cwd: join(clone, 'extracted', module) },
    );
    running.push(service);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(((await health.json()) as { modules: Record<string, unknown> }).modules[module]).toMatchObject({ location: 'local' });
    await Promise.all(running.splice(0).map((c) => c.kill('SIGTERM')));
    // Its events commands are built too, and read the service's defaults (MODULES=<module>): its own module only.
    const { MODULES: _modules, ...settings } = splitProcessEnv({ modules: [module], elsewhere: 'http://127.0.0.1:9', prefix, secret: TEST_SERVICE_SECRET });
    const events = spawnSync(process.execPath, ['dist/events.js', 'backlog'], {
      cwd: join(clone, 'extracted', module),
      encoding: 'utf8',
      env: { ...process.env, ...settings, DATABASE_URL: database.url, LOG_LEVEL: 'error' },
    });
    expect(events.stderr).toBe('');
    expect(events.status).toBe(0);
    expect(events.stdout).toMatch(new RegExp(`^MODULE\\s+OUTBOX UNPUBLISHED\\s+OLDEST\\s+DEAD LETTERS PENDING\n${module}\\s+\\d+\\s+\\S+( \\S+)?\\s+0\n\\d+ unpublished events? in \\d modules?; 0 dead letters pending replay\n$`));
  });

  it('absorb refuses while a file extract wrote has changed', () => {
    const readme = join(clone, 'extracted', module, 'README.md');
    writeFileSync(readme, `${readFileSync(readme, 'utf8')}\nOur on-call notes.\n`);
    const run = npmRun('absorb', '--', module);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`extracted/${module}/README.md was changed since extract wrote it \\(extract-manifest.json\\): absorb would delete the change`));
    git('checkout', '--', `extracted/${module}/README.md`);
  });

  it('absorb folds it back: the tree is the commit before extract', () => {
    const run = npmRun('absorb', '--', module);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(git('diff', '--stat', before)).toBe('');
    expect(status()).toMatch(/^( ?[MDR]|\?\?) /m);
    commitAll(`Absorb ${module}`);
    expect(git('diff', '--stat', before)).toBe('');
    expect(existsSync(join(clone, 'extracted'))).toBe(false);
  });
});

describe('extract then absorb, uncommitted', () => {
  it('leaves git status clean', () => {
    const extract = npmRun('extract', '--', 'shipping');
    expect(extract.status).toBe(0);
    expect(status()).not.toBe('');
    const absorb = npmRun('absorb', '--', 'shipping');
    expect(absorb.stderr).toBe('');
    expect(absorb.status).toBe(0);
    expect(status()).toBe('');
  });
});
