import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContractsError, type ModuleSnapshot } from './snapshot.js';

/** The committed folder of baselines, one `<module>.json` each. */
export const BASELINE_DIR = 'contracts';
const FORMAT = 1;
const NOTE = 'Written by npm run contracts:update from the module contract; npm run contracts:check compares the contract with it (docs/contracts.md). Commit it; do not edit it by hand.';

interface BaselineFile extends ModuleSnapshot {
  $comment: string;
  format: number;
  dialect: string;
}

/** The text of a module's baseline file: stable, so that git shows only real changes. */
export function renderBaseline(snapshot: ModuleSnapshot): string {
  const file: BaselineFile = { $comment: NOTE, format: FORMAT, dialect: 'JSON Schema draft 2020-12, from zod 4 z.toJSONSchema', ...snapshot };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function parseBaseline(file: string, text: string): ModuleSnapshot {
  const fix = `restore it from git, or rewrite it with npm run contracts:update`;
  let data: Partial<BaselineFile>;
  try {
    data = JSON.parse(text) as Partial<BaselineFile>;
  } catch (error) {
    throw new ContractsError(`${file} is not valid JSON (${(error as Error).message}): ${fix}`);
  }
  if (data.format !== FORMAT) throw new ContractsError(`${file} has format ${JSON.stringify(data.format)}, this check reads format ${FORMAT}: ${fix}`);
  for (const key of ['operations', 'events', 'consumes'] as const) {
    if (typeof data[key] !== 'object' || data[key] === null) throw new ContractsError(`${file} has no "${key}" object: ${fix}`);
  }
  const schema = (v: unknown) => typeof v === 'boolean' || (typeof v === 'object' && v !== null);
  const bad =
    Object.entries(data.operations!).find(([, op]) => !schema(op?.input) || !schema(op?.output?.accepts) || !schema(op?.output?.produces))?.[0] ??
    Object.entries(data.events!).find(([, e]) => !schema(e?.accepts) || !schema(e?.produces) || ![e?.current, e?.upcast, e?.downcast].every((b) => typeof b === 'boolean'))?.[0] ??
    Object.entries(data.consumes!).find(([, c]) => typeof c?.event !== 'string' || !Number.isInteger(c?.version) || !schema(c?.accepts))?.[0];
  if (bad !== undefined) throw new ContractsError(`${file}: entry "${bad}" is incomplete: ${fix}`);
  const expected = file.slice(file.lastIndexOf('/') + 1, -'.json'.length);
  if (data.module !== expected) throw new ContractsError(`${file} holds module ${JSON.stringify(data.module)}, not ${expected}: ${fix}`);
  return { module: data.module, operations: data.operations!, events: data.events!, consumes: data.consumes! };
}

/** The committed baselines under `root`; a missing folder is an error, never an empty baseline. */
export function readBaseline(root: string): ModuleSnapshot[] {
  const dir = join(root, BASELINE_DIR);
  if (!existsSync(dir)) throw new ContractsError(`no baseline folder ${BASELINE_DIR}/: run npm run contracts:update and commit ${BASELINE_DIR}/`);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return files.map((f) => parseBaseline(`${BASELINE_DIR}/${f}`, readFileSync(join(dir, f), 'utf8')));
}

/** Whether a module's baseline file exists, and its text equals the snapshot's. */
export function baselineText(root: string, module: string): string | undefined {
  const file = join(root, BASELINE_DIR, `${module}.json`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** Writes one file per module and removes the files of modules that are gone. */
export function writeBaseline(root: string, snapshots: readonly ModuleSnapshot[]): void {
  const dir = join(root, BASELINE_DIR);
  mkdirSync(dir, { recursive: true });
  const keep = new Set(snapshots.map((s) => `${s.module}.json`));
  for (const f of readdirSync(dir)) if (f.endsWith('.json') && !keep.has(f)) rmSync(join(dir, f));
  for (const s of snapshots) writeFileSync(join(dir, `${s.module}.json`), renderBaseline(s));
}
