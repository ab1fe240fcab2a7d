import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModuleContract } from '../../src/kernel/index.js';
import { ContractsError } from './snapshot.js';

/** The composition root whose module lists name every contract of the app. */
export const COMPOSITION_ROOT = 'src/app.ts';

const isContract = (value: unknown): value is ModuleContract =>
  typeof value === 'object' && value !== null && typeof (value as ModuleContract).name === 'string' && Array.isArray((value as ModuleContract).events);

/**
 * Every module contract of the app at `root`: the modules in this repository
 * (`SHOP_MODULES`) and the extracted ones, whose contracts stay in
 * `src/modules/<m>/index.ts` (`SHOP_EXTRACTED`). Loaded in this process, so
 * call it once per process.
 *
 * @example
 * const contracts = await loadContracts(process.cwd());
 */
export async function loadContracts(root: string): Promise<ModuleContract[]> {
  const file = join(root, COMPOSITION_ROOT);
  if (!existsSync(file)) throw new ContractsError(`${file} not found: run the command at the repository's root, or pass --root <repository>`);
  let app: Record<string, unknown>;
  try {
    app = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ContractsError(`cannot load the contracts from ${COMPOSITION_ROOT} (${(error as Error).message}): fix that error first (npm run typecheck shows it)`);
  }
  const lists = ['SHOP_MODULES', 'SHOP_EXTRACTED'].map((name) => {
    const list = app[name];
    if (!Array.isArray(list) || !list.every(isContract)) throw new ContractsError(`${COMPOSITION_ROOT} must export ${name} as a list of modules or module contracts: restore it (npm run extract and absorb write it)`);
    return list;
  });
  const contracts = lists.flat();
  const names = contracts.map((c) => c.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new ContractsError(`module ${twice} is listed twice in ${COMPOSITION_ROOT} (SHOP_MODULES and SHOP_EXTRACTED): list it once`);
  return contracts;
}
