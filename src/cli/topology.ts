import { existsSync, readdirSync } from 'node:fs';
import { register } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
// The topology command only, not the kernel's entry point or the modules' code: it answers in a fraction of a second.
import { runTopologyCli } from '../kernel/cli/topology-cli.js';
import type { ModuleContract } from '../kernel/module/contract.js';
import { DEFAULT_TOPOLOGY_FILE } from '../kernel/topology/resolve-topology.js';

/**
 * The modules of this codebase, read from the folders as move-data does: every module keeps its contract in
 * src/modules/<module>/index.ts, and its code in src/modules/<module>/module.ts until `extract` moves it to
 * extracted/<module>/ (src/composition.ts lists the same two sets).
 */
const MODULES = readdirSync('src/modules', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join('src/modules', entry.name, 'index.ts')))
  .map((entry) => entry.name)
  .sort();
const IMPLEMENTED = MODULES.filter((m) => existsSync(join('src/modules', m, 'module.ts')));

const KERNEL_ENTRY = pathToFileURL(resolve('src/kernel/index.ts')).href;
const CONTRACT_HELPERS = pathToFileURL(resolve('src/kernel/module/contract.ts')).href;
const MARK = '?contract-only';
// src/app.ts names the same file (SHOP_TOPOLOGY_FILE), but loading it loads every module's code.

/**
 * A contract file imports defineContract, defineApi, defineEvent and consumes from the kernel's entry point, which
 * would load every driver of the kernel (two seconds here). While the contracts load, this hook points that import
 * at the file those four come from; only files imported from a contract (marked with MARK) are redirected.
 */
const CONTRACT_ONLY_HOOK = `
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (!context.parentURL?.endsWith(${JSON.stringify(MARK)}) || !result.url.startsWith('file:') || result.url.includes('/node_modules/')) return result;
  return { ...result, url: (result.url === ${JSON.stringify(KERNEL_ENTRY)} ? ${JSON.stringify(CONTRACT_HELPERS)} : result.url) + ${JSON.stringify(MARK)} };
}`;

const isContract = (value: unknown, name: string): value is ModuleContract =>
  typeof value === 'object' && value !== null && (value as ModuleContract).name === name && Array.isArray((value as ModuleContract).events);

/** Each module's contract from its index.ts; through the whole kernel if a contract needs more of it than the four helpers. */
async function loadContracts(): Promise<ModuleContract[]> {
  const load = async (suffix: string) =>
    Promise.all(
      MODULES.map(async (m) => {
        const exports = (await import(pathToFileURL(resolve('src/modules', m, 'index.ts')).href + suffix)) as Record<string, unknown>;
        const contract = Object.values(exports).find((value) => isContract(value, m));
        if (!contract) throw new Error(`src/modules/${m}/index.ts exports no contract named ${m} (defineContract)`);
        return contract;
      }),
    );
  try {
    register(`data:text/javascript,${encodeURIComponent(CONTRACT_ONLY_HOOK)}`);
    return await load(MARK);
  } catch {
    return load('');
  }
}

/** `npm run topology [-- --url <url>] [--json | --mermaid]`: where each module runs, its breaker and health, the module graph (docs/topology.md). */
loadContracts()
  .then((contracts) => runTopologyCli({ argv: process.argv, contracts, implemented: IMPLEMENTED, topologyFile: DEFAULT_TOPOLOGY_FILE }))
  .then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`topology: ${(error as Error).message}`);
      process.exit(1);
    },
  );
