import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHOP_MODULES } from '../../src/app.js';
import { startChildApp, type ChildApp } from './child-app.js';
import { postgresLedger } from './event-ledger.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { ShopClient } from './shop-client.js';
import { freePort, splitProcessEnv, TEST_SERVICE_SECRET, unpublishEverywhere } from './split-topology.js';
import { dropRedisPrefix, TEST_REDIS_URL, testQueuePrefix, type RunningSystem, type Topology } from './topologies.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const START_TIMEOUT_MS = 120_000;

/**
 * A scratch repository of the tree under test (a clone, or a copy when the
 * tree is not a repository, as under test:mutations) with the repository's
 * node_modules linked in.
 */
export function scratchRepository(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (existsSync(join(ROOT, '.git'))) execFileSync('git', ['clone', '-q', ROOT, dir]);
  else {
    cpSync(ROOT, dir, { recursive: true, filter: (path) => !/\/(node_modules|\.data)(\/|$)/.test(path.slice(ROOT.length - 1)) });
    execFileSync('git', ['init', '-q'], { cwd: dir });
    execFileSync('git', ['add', '-A'], { cwd: dir });
    execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', 'the tree under test'], { cwd: dir });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  // A link is not the folder .gitignore's `node_modules/` names: keep it out of git status and `git add -A`.
  writeFileSync(join(dir, '.git', 'info', 'exclude'), 'node_modules\n');
  return dir;
}

const clones = new Map<string, string>();

/** A scratch repository with `module` extracted by `npm run extract` and committed; one per module per test file. */
export function extractedRepository(module: string): string {
  let dir = clones.get(module);
  if (dir) return dir;
  dir = scratchRepository(`mmk-extracted-${module}-`);
  const extract = spawnSync('npm', ['run', '-s', 'extract', '--', module], { cwd: dir, encoding: 'utf8' });
  if (extract.status !== 0) throw new Error(`npm run extract -- ${module} failed: ${extract.stderr}`);
  execFileSync('git', ['add', '-A'], { cwd: dir });
  execFileSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', `Extract ${module}`], { cwd: dir });
  clones.set(module, dir);
  return dir;
}

/** Deletes the scratch repositories this test file made. */
export function removeExtractedRepositories(): void {
  for (const dir of clones.values()) rmSync(dir, { recursive: true, force: true });
  clones.clear();
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the test's event loop. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

export interface RunningExtracted extends RunningSystem {
  readonly repository: string;
  monolith: ChildApp;
  service: ChildApp;
  readonly monolithDb: TestDatabase;
  readonly serviceDb: TestDatabase;
  /** Where the module's data is now. */
  moduleDatabase: string;
  /** Starts the module's service again (after a stop) on a database. */
  startService(databaseUrl: string): Promise<ChildApp>;
  /** `npm run move-data -- <module> --from <from> --to <to>` in the repository (asynchronous: the test goes on meanwhile). */
  moveData(from: string, to: string): Promise<CommandResult>;
  /**
   * `npm run events -- <args>` with the monolith's settings, or `npm run events -w extracted/<module> -- <args>`
   * with the service's (its database where its data is now), as an operator runs them in the repository.
   */
  events(where: 'monolith' | 'service', args: readonly string[]): Promise<CommandResult>;
}

/**
 * The shop after `npm run extract -- <module>`: the monolith as `npm start`
 * runs it (without the module's code) and the module's service as
 * `npm start -w extracted/<module>` runs it, both from a scratch repository.
 * The monolith's database was made by the monolith before the extraction
 * (every schema, the module's included); with `moveData`, the module's data
 * is first moved to the service's own database by `npm run move-data`, as
 * the migration guide does, and the service runs there.
 */
export function extractedTopology(module: string, options: { moveData: boolean }): Topology<RunningExtracted> {
  return {
    name: `${module} extracted (npm start -w extracted/${module})${options.moveData ? ', its data moved to its own database' : ', on the monolith\'s database'}`,
    async start() {
      const repository = extractedRepository(module);
      const prefix = testQueuePrefix();
      const databases: TestDatabase[] = [];
      const children: ChildApp[] = [];
      const stopAll = async () => {
        await Promise.all(children.map((c) => c.kill('SIGKILL')));
        await Promise.all(databases.map((d) => d.drop()));
        await dropRedisPrefix(TEST_REDIS_URL, prefix).catch(() => undefined);
      };
      try {
        const monolithDb = await createTestDatabase('mmk_extracted');
        databases.push(monolithDb);
        const serviceDb = await createTestDatabase('mmk_extracted');
        databases.push(serviceDb);
        // The monolith's database as the monolith left it before the extraction: every module's schema.
        const migrate = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/migrate.ts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: monolithDb.url } });
        if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);
        const moveData = (from: string, to: string) => run('npm', ['run', '-s', 'move-data', '--', module, '--from', from, '--to', to], repository, { ...process.env, DATABASE_URL: '' });
        let moduleDatabase = monolithDb.url;
        if (options.moveData) {
          const moved = await moveData(monolithDb.url, serviceDb.url);
          if (moved.code !== 0) throw new Error(`move-data failed: ${moved.stderr}`);
          moduleDatabase = serviceDb.url;
        }
        const [monolithUrl, serviceUrl] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
        const common = { EVENT_RELAY_POLL_MS: '200', REMOTE_TIMEOUT_MS: '15000', DATABASE_POOL_MAX: '3', SHUTDOWN_GRACE_MS: '0' };
        const serviceEnv = (databaseUrl: string) => ({
          ...splitProcessEnv({ modules: [module], elsewhere: monolithUrl, prefix, secret: TEST_SERVICE_SECRET, databaseUrl }),
          ...common,
          PORT: new URL(serviceUrl).port,
        });
        const startService = async (databaseUrl: string) => {
          const child = await startChildApp(serviceEnv(databaseUrl), START_TIMEOUT_MS, { command: 'npm', args: ['start', '-w', `extracted/${module}`], cwd: repository });
          children.push(child);
          return child;
        };
        const service = await startService(moduleDatabase);
        // No MODULES: the monolith runs what its code holds; topology.json and the environment say where the module is.
        const monolithEnv = {
          DATABASE_URL: monolithDb.url,
          EVENT_BUS: 'bullmq',
          REDIS_URL: TEST_REDIS_URL,
          EVENT_QUEUE_PREFIX: prefix,
          SERVICE_TOKEN_SECRET: TEST_SERVICE_SECRET,
          [`SERVICE_URL_${module.toUpperCase()}`]: serviceUrl,
          ...common,
          PORT: new URL(monolithUrl).port,
        };
        const monolith = await startChildApp(monolithEnv, START_TIMEOUT_MS, { command: 'npm', args: ['start'], cwd: repository });
        children.push(monolith);
        const running: RunningExtracted = {
          repository,
          monolith,
          service,
          monolithDb,
          serviceDb,
          moduleDatabase,
          startService: async (databaseUrl) => {
            running.service = await startService(databaseUrl);
            running.moduleDatabase = databaseUrl;
            return running.service;
          },
          moveData,
          events: (where, args) => {
            const [workspace, env] = where === 'service' ? [['-w', `extracted/${module}`], serviceEnv(running.moduleDatabase)] : [[], monolithEnv];
            return run('npm', ['run', '-s', 'events', ...workspace, '--', ...args], repository, { ...process.env, ...env, LOG_LEVEL: 'error' });
          },
          shop: new ShopClient(monolithUrl),
          ledger: postgresLedger(
            (m) => (m === module ? running.moduleDatabase : monolithDb.url),
            SHOP_MODULES,
            () => children.filter((c) => c.process.exitCode === null && c.process.signalCode === null).map((c) => c.url),
          ),
          unpublishAll: () => unpublishEverywhere((name) => (name === module ? running.moduleDatabase : monolithDb.url)),
          stop: stopAll,
        };
        return running;
      } catch (error) {
        await stopAll();
        throw error;
      }
    },
  };
}
