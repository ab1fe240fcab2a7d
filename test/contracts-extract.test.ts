import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contractsRefusal } from '../tools/contracts/contracts-precondition.js';

/**
 * `npm run extract` runs `contracts:check` first: a breaking change refuses
 * the extraction (exit 2, one line with the reason and the fix, nothing
 * moved), like its other refusals. On a scratch repository holding this
 * tree's contracts and architecture rules.
 */
const ROOT = new URL('..', import.meta.url).pathname;
let repo: string;

const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' });
const commitAll = (message: string) => {
  git('add', '-A');
  git('-c', 'user.name=test', '-c', 'user.email=test@example.com', 'commit', '-qm', message);
};
const removeStock = () => {
  const file = join(repo, 'src/modules/catalog/catalog.contract.ts');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/\n {2}stock: z\.number\(\)\.int\(\),/, ''));
  expect(readFileSync(file, 'utf8')).not.toBe(text);
};

beforeEach(() => {
  repo = mkdtempSync(join(tmpdir(), 'mmk-contracts-extract-'));
  for (const entry of ['src', 'contracts', 'package.json', 'tsconfig.json', '.dependency-cruiser.js']) cpSync(join(ROOT, entry), join(repo, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'));
  git('init', '-q');
  writeFileSync(join(repo, '.git', 'info', 'exclude'), 'node_modules\n');
  commitAll('the contracts under test');
});

afterEach(() => {
  rmSync(repo, { recursive: true, force: true });
});

describe('the contracts precondition of extract', () => {
  it('lets a compatible tree through', () => {
    expect(contractsRefusal(repo)).toBeUndefined();
  });

  it('refuses a breaking change, naming the first finding and the fix', () => {
    removeStock();
    expect(contractsRefusal(repo)).toBe(
      'the contracts check finds 1 breaking change(s) (first: catalog: operation getProduct output, $.stock (output-field-removed)): run npm run contracts:check for what to do instead, make the change compatible or record it on purpose with npm run contracts:update, and commit first; a service deployed apart must not break its callers and consumers',
    );
  });

  it('refuses when the check cannot run, with its reason', () => {
    rmSync(join(repo, 'contracts'), { recursive: true });
    expect(contractsRefusal(repo)).toBe(
      'the contracts check cannot run (no baseline folder contracts/: run npm run contracts:update and commit contracts/): run npm run contracts:check and fix what it says first',
    );
  });

  it('npm run extract refuses a committed breaking change: exit 2, one line, nothing moved', () => {
    removeStock();
    commitAll('stock removed');
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'tools/extract/extract.ts'), 'payments', '--root', repo], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^✖ extract payments: the contracts check finds 1 breaking change\(s\) \(first: catalog: operation getProduct output, \$\.stock/)]);
    expect(run.stdout).toBe('');
    expect(git('status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(existsSync(join(repo, 'extracted'))).toBe(false);
    expect(existsSync(join(repo, 'src/modules/payments/module.ts'))).toBe(true);
  });
});
