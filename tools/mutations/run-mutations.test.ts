import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plant } from './plants.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;

// The runner itself must be able to say "survived" and "stale": a runner that
// always reports "caught" would make every guarantee look tested.
describe('npm run test:mutations', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mmk-plants-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runner(plants: Plant[]): Promise<{ code: number; stdout: string }> {
    const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, JSON.stringify(plants));
    try {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'tools/mutations/run-mutations.ts', '--plants', file], { cwd: ROOT });
      return { code: 0, stdout };
    } catch (error) {
      const e = error as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  const suites = ['src/kernel/errors/app-error.test.ts'];
  const file = 'src/kernel/errors/app-error.ts';

  it('reports a plant its suites catch, and exits 0', async () => {
    const result = await runner([{ name: 'status-table-broken', breaks: 'NOT_FOUND is 404', file, find: '  NOT_FOUND: 404,', replace: '  NOT_FOUND: 400,', suites }]);
    expect(result.stdout).toMatch(/^status-table-broken: planted in src\/kernel\/errors\/app-error.ts; running .* caught in \d+ s by src\/kernel\/errors\/app-error.test.ts > /m);
    expect(result.code).toBe(0);
  });

  it('reports a plant that leaves its suites green as survived, and exits 1', async () => {
    const result = await runner([{ name: 'harmless', breaks: 'nothing', file, find: '/** 404: the addressed resource does not exist. */', replace: '/** 404. */', suites }]);
    expect(result.stdout).toMatch(/harmless: .* SURVIVED: \d+ tests passed with the fault in\. Guarantee not tested: nothing/);
    expect(result.code).toBe(1);
  });

  it('refuses a plant whose text is no longer in the source, and exits 2', async () => {
    const result = await runner([{ name: 'stale', breaks: 'x', file, find: 'this text is not in the file', replace: 'y', suites }]);
    expect(result.stdout).toMatch(/stale: the planted text occurs 0 times in src\/kernel\/errors\/app-error.ts \(expected once\)/);
    expect(result.code).toBe(2);
  });

  it('does not count a plant that breaks the build as caught, and exits 2', async () => {
    const result = await runner([{ name: 'syntax', breaks: 'x', file, find: '  NOT_FOUND: 404,', replace: '  NOT_FOUND: 404,,,(', suites }]);
    expect(result.stdout).toMatch(/syntax: .* NOT TRUSTED: the suites did not run/);
    expect(result.code).toBe(2);
  });
});
