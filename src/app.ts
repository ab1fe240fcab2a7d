import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHOP_MODULES } from './composition.js';

/** The composition root: the modules of the shop (src/composition.ts, written by extract and absorb). */
export { SHOP_MODULES, SHOP_EXTRACTED } from './composition.js';

/** Where each module runs by default; `extract` and `absorb` edit it, the environment overrides it. */
export const SHOP_TOPOLOGY_FILE = 'topology.json';

/**
 * The shop's modules as the entry point at `entryUrl` (its `import.meta.url`)
 * runs them: under tsx (`src/main.ts`) each reads `migrations/<module>/`;
 * bundled by `npm run build` (`dist/main.js`) each reads the migrations the
 * build compiled beside the bundle, `dist/migrations/<module>/`.
 *
 * @example
 * const modules = shopModulesAt(import.meta.url);
 */
export function shopModulesAt(entryUrl: string): typeof SHOP_MODULES {
  if (!entryUrl.endsWith('.js')) return SHOP_MODULES;
  const dist = dirname(fileURLToPath(entryUrl));
  return SHOP_MODULES.map((m) => (m.migrationsDir === false ? m : { ...m, migrationsDir: join(dist, 'migrations', m.name) })) as unknown as typeof SHOP_MODULES;
}
