import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { BASELINE_DIR, readBaseline, writeBaseline } from './baseline-files.js';
import { checkContracts, type Finding } from './check-contracts.js';
import { contractChanges } from './contract-changes.js';
import { UnsupportedSchemaError } from './json-schema-node.js';
import { loadContracts } from './load-contracts.js';
import { ContractsError, snapshotContract, type ModuleSnapshot } from './snapshot.js';

const log = (line: string) => process.stdout.write(`${line}\n`);
const fail = (line: string) => process.stderr.write(`${line}\n`);

function printFinding(f: Finding): void {
  log(`✖ ${f.module}: ${f.subject}, ${f.path} (${f.rule})\n  ${f.detail}\n  instead: ${f.fix}`);
}

async function current(root: string): Promise<ModuleSnapshot[]> {
  return (await loadContracts(root)).map(snapshotContract).sort((a, b) => a.module.localeCompare(b.module));
}

/** `contracts:check`: 0 compatible, 1 breaking changes, 2 the check could not run. */
async function check(root: string): Promise<number> {
  const baseline = readBaseline(root);
  const now = await current(root);
  const unrecorded = now.filter((s) => !baseline.some((b) => b.module === s.module)).map((s) => s.module);
  if (unrecorded.length > 0) throw new ContractsError(`module ${unrecorded.join(', ')} has no baseline (${BASELINE_DIR}/${unrecorded[0]}.json): run npm run contracts:update and commit it`);
  const findings = checkContracts(baseline, now);
  for (const f of findings) printFinding(f);
  const counted = `${now.length} modules, ${now.reduce((n, s) => n + Object.keys(s.operations).length, 0)} operations, ${now.reduce((n, s) => n + Object.keys(s.events).length, 0)} event versions, ${now.reduce((n, s) => n + Object.keys(s.consumes).length, 0)} readers`;
  if (findings.length > 0) {
    log(`\n✖ contracts check failed: ${findings.length} breaking change(s) against ${BASELINE_DIR}/ (${counted}). Make the change compatible as said above; a break you mean to make (no deployed caller or consumer depends on it) is recorded with npm run contracts:update, and the baseline's diff shows it in review`);
    return 1;
  }
  const changes = contractChanges(baseline, now);
  if (changes.length > 0) log(`${changes.length} compatible change(s) are not in ${BASELINE_DIR}/ yet:\n${changes.map((c) => `  ${c}`).join('\n')}\nrecord them with npm run contracts:update`);
  log(`✔ contracts check passed: ${counted}, compatible with ${BASELINE_DIR}/`);
  return 0;
}

/** `contracts:update`: writes the baselines and prints what changed, breaking changes marked. */
async function update(root: string): Promise<number> {
  let previous: ModuleSnapshot[] = [];
  try {
    if (existsSync(join(root, BASELINE_DIR))) previous = readBaseline(root);
  } catch (error) {
    if (!(error instanceof ContractsError)) throw error;
    log(`! the previous baseline cannot be read (${error.message.split(': restore')[0]}): writing it anew, every entry listed as added`);
  }
  const now = await current(root);
  const findings = checkContracts(previous, now);
  writeBaseline(root, now);
  const changes = contractChanges(previous, now);
  for (const line of changes) log(line);
  for (const f of findings) log(`! breaking, now recorded: ${f.module}: ${f.subject}, ${f.path} (${f.rule}): ${f.detail}`);
  log(changes.length === 0 ? `✔ ${BASELINE_DIR}/ was up to date` : `✔ wrote ${BASELINE_DIR}/ (${now.length} modules): ${changes.length} change(s)${findings.length ? `, ${findings.length} of them breaking` : ''}; commit it`);
  return 0;
}

/** `npm run contracts:check|contracts:update [-- --root <dir>]`. */
export async function runContractsCli(argv: string[]): Promise<number> {
  const program = new Command('contracts')
    .argument('<command>', 'check or update')
    .option('--root <dir>', 'the repository', process.cwd())
    .exitOverride()
    .configureOutput({ writeErr: (text) => fail(text.trimEnd()) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return error instanceof CommanderError && error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  const [command] = program.args as [string];
  const { root } = program.opts<{ root: string }>();
  if (command !== 'check' && command !== 'update') {
    fail(`✖ unknown command "${command}": use check or update`);
    return 2;
  }
  try {
    return command === 'check' ? await check(root) : await update(root);
  } catch (error) {
    if (!(error instanceof ContractsError) && !(error instanceof UnsupportedSchemaError)) throw error;
    const what = error instanceof UnsupportedSchemaError ? `the comparator cannot read ${error.message}; it never passes what it cannot compare: express the schema with the zod features docs/contracts.md lists` : error.message;
    fail(`✖ contracts ${command} could not run: ${what}`);
    return 2;
  }
}

runContractsCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    fail(`✖ contracts check could not run: ${(error as Error).stack ?? String(error)}`);
    process.exit(2);
  },
);
