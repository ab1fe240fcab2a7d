import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { runArchCheck } from '../arch/run-arch-check.js';
import { contractsRefusal } from '../contracts/contracts-precondition.js';
import { describe, execute, isExtracted, MANIFEST, modulesOf, planAbsorb, planExtract, writtenFiles, type Plan } from './plan.js';

const git = (root: string, args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Uncommitted changes (untracked files included), as `git status --porcelain` paths. */
function uncommitted(root: string): string[] {
  return git(root, ['status', '--porcelain', '--untracked-files=all'])
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
}

function knownModule(root: string, module: string): string | undefined {
  const modules = modulesOf(root);
  return modules.includes(module) ? undefined : `unknown module "${module}": the modules are ${modules.join(', ')}; pass one of them`;
}

/** The reasons extract must not run now, each a line with the fix; empty when it may. */
export async function extractRefusals(root: string, module: string): Promise<string[]> {
  const unknown = knownModule(root, module);
  if (unknown) return [unknown];
  const reasons: string[] = [];
  if (isExtracted(root, module)) reasons.push(`${module} is already extracted (extracted/${module}/): run npm run absorb -- ${module} first to fold it back`);
  else if (!existsSync(join(root, 'src', 'modules', module, 'module.ts'))) reasons.push(`src/modules/${module}/module.ts is missing: a module's implementation entry must be there to be extracted`);
  const dirty = uncommitted(root);
  if (dirty.length > 0) reasons.push(`uncommitted changes (${dirty.length} file(s), e.g. ${dirty[0]}): commit or stash them first, so that the extraction is a change of its own that git can show and undo`);
  const arch = await runArchCheck({ root });
  if (!arch.ok) reasons.push(`the architecture check fails (${arch.violations.length} violation(s), ${arch.stale.length} stale known violation(s)): run npm run arch:check and fix them first; a module that breaks its boundaries cannot run apart`);
  const contracts = contractsRefusal(root);
  if (contracts) reasons.push(contracts);
  return reasons;
}

/** The reasons absorb must not run now. */
export function absorbRefusals(root: string, module: string): string[] {
  const unknown = knownModule(root, module);
  if (unknown) return [unknown];
  if (!isExtracted(root, module)) return [`${module} is not extracted (no extracted/${module}/src/module.ts): there is nothing to absorb`];
  const reasons: string[] = [];
  if (existsSync(join(root, 'extracted', module, '.data'))) {
    reasons.push(`extracted/${module}/.data holds the service's embedded PGlite database, which absorb would leave behind: its data cannot be moved by move-data (PostgreSQL only); delete the folder if it holds nothing you need, or run the service on PostgreSQL and move its data first`);
  }
  const written = writtenFiles(root, module);
  const edited = written.filter((f) => !f.unchanged).map((f) => f.path);
  if (edited.length > 0) {
    reasons.push(`${edited.join(', ')} ${edited.length === 1 ? 'was' : 'were'} changed since extract wrote ${edited.length === 1 ? 'it' : 'them'} (${MANIFEST}): absorb would delete the change; keep it elsewhere, or restore the file with git, first`);
  }
  const generated = new Set(written.map((f) => f.path));
  const untracked = git(root, ['ls-files', '--others', '--exclude-standard', '--', `extracted/${module}`])
    .split('\n')
    .filter((f) => f && !generated.has(f));
  if (untracked.length > 0) reasons.push(`untracked files in extracted/${module}/ (e.g. ${untracked[0]}): absorb moves back only the module's code; move or delete them first`);
  return reasons;
}

/** Removes a folder's empty subfolders, and the folder itself once empty. */
function pruneEmptyFolders(folder: string): void {
  if (!existsSync(folder)) return;
  for (const entry of readdirSync(folder, { withFileTypes: true })) if (entry.isDirectory()) pruneEmptyFolders(join(folder, entry.name));
  if (readdirSync(folder).length === 0) rmSync(folder, { recursive: true });
}

function printPlan(plan: Plan, log: (line: string) => void): void {
  log(`${plan.command} ${plan.module}: ${plan.steps.length} step(s)`);
  for (const step of plan.steps) log(`  ${describe(step)}`);
}

/** `npm run extract|absorb -- <module> [--dry-run] [--root <dir>]`. */
export async function runCli(command: 'extract' | 'absorb', argv: string[]): Promise<number> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const fail = (line: string) => process.stderr.write(`${line}\n`);
  const program = new Command(command)
    .argument('<module>', 'the module to ' + (command === 'extract' ? 'move to extracted/<module>/' : 'fold back into src/modules/<module>/'))
    .option('--dry-run', 'print the plan and change nothing')
    .option('--root <dir>', 'the repository', process.cwd())
    .exitOverride()
    .configureOutput({ writeErr: (text) => fail(text.trimEnd()) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) return 0;
    return 2;
  }
  const [module] = program.args as [string];
  const { dryRun, root } = program.opts<{ dryRun?: boolean; root: string }>();
  const refusals = command === 'extract' ? await extractRefusals(root, module) : absorbRefusals(root, module);
  if (refusals.length > 0) {
    for (const reason of refusals) fail(`✖ ${command} ${module}: ${reason}`);
    return 2;
  }
  const plan = command === 'extract' ? planExtract(root, module) : planAbsorb(root, module);
  if (dryRun) {
    printPlan(plan, log);
    log('dry run: nothing was changed');
    return 0;
  }
  const started = Date.now();
  log(`${command} ${module}: ${plan.steps.length} step(s)`);
  execute(root, plan, log);
  log(`✔ ${command} ${module} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (command === 'extract') {
    log(`next: review with git status, then commit (git add -A && git commit -m "Extract ${module}")`);
    log(`  the service: npm start -w extracted/${module}   (settings: extracted/${module}/README.md)`);
    log(`  the monolith: npm start, with EVENT_BUS=bullmq and SERVICE_TOKEN_SECRET set in both (docs/topology.md)`);
    log(`  undo: npm run absorb -- ${module}`);
  } else {
    // The service's build output goes with it; the preconditions made sure nothing else is left there.
    const folder = join(root, 'extracted', module);
    rmSync(join(folder, 'dist'), { recursive: true, force: true });
    pruneEmptyFolders(folder);
    pruneEmptyFolders(join(root, 'extracted'));
    log(`next: review with git status, then commit; ${module} runs in the monolith again`);
  }
  return 0;
}
