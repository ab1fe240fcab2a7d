import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { TEST_POSTGRES_URL } from '../../test/support/postgres.js';
import { dropDatabasesLike } from '../../test/support/drop-databases.js';
import { deleteRedisKeys, TEST_REDIS_URL } from '../../test/support/redis-keys.js';
import { PLANTS, type Plant } from './plants.js';

/**
 * `npm run test:mutations [-- <plant> ...]`: plants each fault of plants.ts
 * on a scratch copy of the tree and runs the suites that guard against it.
 * A plant must make at least one of its tests fail (an assertion, not a
 * crash of the run). Exit 0: every plant was caught; 1: a plant survived;
 * 2: the run could not be trusted (a plant no longer matches the source, or
 * its suites did not run).
 */

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const VITEST = join(ROOT, 'node_modules/vitest/vitest.mjs');

class StalePlantError extends Error {}

/** The tree as git sees it (tracked and new files, not ignored ones), copied; node_modules linked. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmk-mutation-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    try {
      cpSync(join(ROOT, file), join(dir, file));
    } catch (error) {
      // A file deleted in the work tree but not yet in the index.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function plant(dir: string, p: Plant): void {
  const path = join(dir, p.file);
  const source = readFileSync(path, 'utf8');
  const count = source.split(p.find).length - 1;
  if (count !== 1) throw new StalePlantError(`${p.name}: the planted text occurs ${count} times in ${p.file} (expected once): update tools/mutations/plants.ts to the current code`);
  writeFileSync(path, source.replace(p.find, p.replace));
}

interface SuiteRun {
  /** The tail of the run's stderr, to say why suites did not run. */
  stderr: string;
  failedTests: string[];
  passedTests: number;
  /** Files that could not run at all (a syntax error, a crash in a hook). */
  brokenFiles: string[];
  seconds: number;
}

interface VitestJson {
  numPassedTests: number;
  testResults: Array<{ name: string; status: string; message?: string; assertionResults: Array<{ fullName: string; status: string }> }>;
}

let runs = 0;

/**
 * Kills, by pid, the processes a run of suites tagged `tag` left running: their environment holds the tag. A test
 * worker that --bail stops dies before its afterAll hooks, and the app processes it started outlive it.
 */
function killTaggedProcesses(tag: string): number {
  const marker = `\0MMK_TEST_TAG=${tag}\0`;
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!`\0${readFileSync(`/proc/${entry}/environ`, 'latin1')}`.includes(marker)) continue;
      process.kill(Number(entry), 'SIGKILL');
      killed += 1;
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return killed;
}

/**
 * Drops what a run of suites tagged `tag` left behind: a run stopped by --bail does not always reach the suites'
 * afterAll hooks, so their processes, databases (named with the tag, test/support/postgres.ts) and queue keys would stay.
 */
async function dropLeftovers(tag: string): Promise<void> {
  killTaggedProcesses(tag);
  await dropDatabasesLike(TEST_POSTGRES_URL, `%\\_${tag}\\_%`);
  await deleteRedisKeys(TEST_REDIS_URL, `mmk-test-${tag}-*`);
}

async function runSuites(dir: string, suites: readonly string[]): Promise<SuiteRun> {
  const started = Date.now();
  runs += 1;
  const tag = `mut${process.pid}r${runs}`;
  // Temporary folders (PGlite data, scratch clones) of this run, removed after it. Not inside the scratch copy:
  // tests copy the repository into their temporary folders (test/extract.test.ts).
  const temporary = mkdtempSync(join(tmpdir(), 'mmk-mutation-tmp-'));
  const output = join(dir, '.mutation-report.json');
  // --bail: the first failing test is the answer; the rest would only cost time.
  const args = [VITEST, 'run', '--bail=1', '--reporter=json', `--outputFile=${output}`, ...suites];
  const stderr = await new Promise<string>((done, fail) => {
    const child = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: 'true', MMK_TEST_TAG: tag, TMPDIR: temporary } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
    child.on('error', fail);
    child.on('exit', () => done(stderr));
  });
  await dropLeftovers(tag);
  rmSync(temporary, { recursive: true, force: true });
  let report: VitestJson;
  try {
    report = JSON.parse(readFileSync(output, 'utf8')) as VitestJson;
  } catch {
    return { stderr, failedTests: [], passedTests: 0, brokenFiles: [...suites], seconds: (Date.now() - started) / 1000 };
  }
  const failedTests = report.testResults.flatMap((file) => file.assertionResults.filter((t) => t.status === 'failed').map((t) => `${file.name.slice(dir.length + 1)} > ${t.fullName}`));
  const brokenFiles = report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.every((t) => t.status !== 'failed') && !/bail/i.test(file.message ?? '')).map((file) => `${file.name.slice(dir.length + 1)}: ${(file.message ?? '').split('\n')[0]}`);
  return { stderr, failedTests, passedTests: report.numPassedTests, brokenFiles, seconds: (Date.now() - started) / 1000 };
}

/** `--plants <file.json>` replaces plants.ts (the runner's own tests use it). */
function readPlants(args: string[]): { plants: readonly Plant[]; wanted: string[] } {
  const at = args.indexOf('--plants');
  if (at === -1) return { plants: PLANTS, wanted: args };
  const file = args[at + 1];
  if (!file) throw new Error('--plants needs a file');
  return { plants: JSON.parse(readFileSync(file, 'utf8')) as Plant[], wanted: args.filter((_, i) => i !== at && i !== at + 1) };
}

async function main(): Promise<number> {
  const { plants: all, wanted } = readPlants(process.argv.slice(2));
  const unknown = wanted.filter((name) => !all.some((p) => p.name === name));
  if (unknown.length > 0) {
    console.error(`test:mutations: unknown plant ${unknown.join(', ')} (plants: ${all.map((p) => p.name).join(', ')})`);
    return 2;
  }
  const plants = wanted.length > 0 ? all.filter((p) => wanted.includes(p.name)) : all;
  let survived = 0;
  let untrusted = 0;
  for (const p of plants) {
    const dir = scratchCopy();
    try {
      plant(dir, p);
      process.stdout.write(`${p.name}: planted in ${p.file}; running ${p.suites.join(' ')} … `);
      const run = await runSuites(dir, p.suites);
      if (run.failedTests.length > 0) {
        console.log(`caught in ${run.seconds.toFixed(0)} s by ${run.failedTests[0]}`);
      } else if (run.brokenFiles.length > 0) {
        untrusted += 1;
        console.log(`NOT TRUSTED: the suites did not run (${run.brokenFiles.join('; ')})\n${run.stderr}`);
      } else {
        survived += 1;
        console.log(`SURVIVED: ${run.passedTests} tests passed with the fault in. Guarantee not tested: ${p.breaks}`);
      }
    } catch (error) {
      untrusted += 1;
      console.log(error instanceof StalePlantError ? `\n${error.message}` : `\n${p.name}: ${(error as Error).stack ?? String(error)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`${plants.length - survived - untrusted} of ${plants.length} plants caught${survived ? `, ${survived} survived` : ''}${untrusted ? `, ${untrusted} could not be checked` : ''}`);
  return untrusted > 0 ? 2 : survived > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
