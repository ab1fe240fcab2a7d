import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { dropDatabasesLike } from '../../test/support/drop-databases.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../../test/support/redis-keys.js';
import { DocFormatError, docSteps } from './doc-steps.js';
import { PageFailure, runPage } from './run-page.js';

/**
 * `npm run docs:test [-- --page <file>] [--keep]`: runs the shell blocks of the
 * migration guide and of the README's quick start and tour on a scratch clone,
 * against this machine's PostgreSQL and Redis, and checks the output each page
 * shows. Exit 0: every page ran as written; 1: a page drifted from the code
 * (the step and its output are printed); 2: it could not run.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The clone URL the guide shows; a test run clones this checkout instead. */
export const GUIDE_CLONE_URL = 'https://github.com/your-org/shop.git';

interface Page {
  file: string;
  /** Only these sections (headings) run; the whole page when unset. */
  sections?: string[];
  /** `clone`: the page starts inside a clone (the README); `empty`: in an empty folder, the page clones. */
  start: 'clone' | 'empty';
}

export const PAGES: readonly Page[] = [
  { file: 'README.md', sections: ['Quick start', 'A tour of the shop API'], start: 'clone' },
  { file: 'docs/migration-guide.md', start: 'empty' },
];

/** The ports the pages name: a test run uses them as written, so they must be free. */
const PORTS = [3000, 3001, 3002, 3003, 3004];

/** Settings that would change what a page does if the runner's own environment had them. */
const APP_SETTINGS = /^(npm_|OTEL_|SERVICE_URL_|TEST_|MMK_)|^(PORT|DATABASE_URL|DATA_DIR|EVENT_BUS|REDIS_URL|EVENT_QUEUE_PREFIX|MODULES|SERVICE_TOKEN_SECRET|NODE_ENV|LOG_LEVEL|TOPOLOGY_FILE|INIT_CWD)$/;

class CannotRunError extends Error {}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, () => server.close(() => done(true)));
  });
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A clone of this checkout with its uncommitted changes committed, so a run tests the tree as it is. */
function originRepo(dir: string, log: (line: string) => void): string {
  const origin = join(dir, 'origin');
  git(dir, 'clone', '-q', ROOT, origin);
  const changed = git(ROOT, 'ls-files', '-z', '--modified', '--others', '--exclude-standard').split('\0').filter(Boolean);
  for (const file of new Set(changed)) {
    if (existsSync(join(ROOT, file))) {
      mkdirSync(dirname(join(origin, file)), { recursive: true });
      cpSync(join(ROOT, file), join(origin, file));
    } else rmSync(join(origin, file), { force: true });
  }
  if (git(origin, 'status', '--porcelain').trim()) {
    git(origin, 'add', '-A');
    git(origin, '-c', 'user.name=docs-test', '-c', 'user.email=docs-test@localhost', 'commit', '-qm', 'docs:test: the uncommitted changes of the checkout');
    log(`the checkout has uncommitted changes (${new Set(changed).size} file(s)): testing them as one more commit`);
  }
  return origin;
}

function pageEnv(tag: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!APP_SETTINGS.test(key)) env[key] = value;
  return {
    ...env,
    EVENT_QUEUE_PREFIX: `mmk-docs-${tag}`,
    GIT_AUTHOR_NAME: 'docs-test',
    GIT_AUTHOR_EMAIL: 'docs-test@localhost',
    GIT_COMMITTER_NAME: 'docs-test',
    GIT_COMMITTER_EMAIL: 'docs-test@localhost',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  };
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('docs:test')
    .description('runs the shell blocks of the migration guide and the README tour on a scratch clone and checks their output')
    .option('--page <file...>', `pages to run (${PAGES.map((p) => p.file).join(', ')})`)
    .option('--keep', 'keep the scratch folder (step files, outputs, background logs)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse(argv, { from: 'user' });
  const options = program.opts<{ page?: string[]; keep?: boolean }>();
  const pages = options.page ? PAGES.filter((p) => options.page?.includes(p.file)) : PAGES;
  const unknown = options.page?.filter((f) => !PAGES.some((p) => p.file === f)) ?? [];
  if (unknown.length > 0) throw new CannotRunError(`unknown page ${unknown.join(', ')}: the pages are ${PAGES.map((p) => p.file).join(', ')}`);
  for (const port of PORTS) if (!(await portFree(port))) throw new CannotRunError(`port ${port} is in use: the pages run as written, on the ports they name; stop what listens there and run docs:test again`);

  const log = (line: string) => process.stdout.write(`${line}\n`);
  const tag = randomBytes(4).toString('hex');
  const dbPrefix = `mmk_docs_${tag}_`;
  const dir = mkdtempSync(join(tmpdir(), 'mmk-docs-'));
  const started = Date.now();
  let failed = false;
  try {
    const origin = originRepo(dir, log);
    log(`docs:test in ${dir}: ${GUIDE_CLONE_URL} is cloned from this checkout, databases shop_<name> are ${dbPrefix}<name>, EVENT_QUEUE_PREFIX=mmk-docs-${tag}`);
    const rewrite = (command: string) => command.replaceAll(GUIDE_CLONE_URL, origin).replace(/\bshop_([a-z]+)\b/g, `${dbPrefix}$1`);
    for (const page of pages) {
      let steps;
      try {
        steps = docSteps(readFileSync(join(ROOT, page.file), 'utf8'), page.sections);
      } catch (error) {
        if (error instanceof DocFormatError) throw new CannotRunError(`${page.file}, ${error.message}`);
        throw error;
      }
      if (steps.length === 0) throw new CannotRunError(`${page.file} has no shell blocks to run${page.sections ? ` in its sections ${page.sections.join(', ')}` : ''}`);
      const base = join(dir, page.file.replaceAll('/', '_'));
      mkdirSync(base);
      const cwd = page.start === 'clone' ? join(base, 'clone') : join(base, 'work');
      if (page.start === 'clone') git(base, 'clone', '-q', origin, cwd);
      else mkdirSync(cwd);
      log(`${page.file}: ${steps.length} step(s)`);
      const pageStarted = Date.now();
      try {
        await runPage({ page: page.file, steps, cwd, scratch: join(base, 'steps'), env: pageEnv(tag), rewrite, log });
        log(`✔ ${page.file} ran as written in ${((Date.now() - pageStarted) / 1000).toFixed(1)} s`);
      } catch (error) {
        if (!(error instanceof PageFailure)) throw error;
        failed = true;
        log(`✖ ${page.file} drifted from the code at ${error.where}: fix the page or the code`);
      } finally {
        // Each page starts from empty databases and queues.
        await dropDatabasesLike(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', `${dbPrefix}%`);
        await deleteRedisKeys(TEST_REDIS_URL, `mmk-docs-${tag}*`);
      }
    }
  } finally {
    if (options.keep || failed) log(`scratch folder kept: ${dir}${options.keep ? '' : ' (delete it when done)'}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  log(`${failed ? '✖ docs:test failed' : '✔ docs:test passed'}: ${pages.length} page(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
    if (error instanceof CannotRunError) console.error(`✖ docs:test: ${error.message}`);
    else console.error(error);
    process.exit(2);
  },
);
