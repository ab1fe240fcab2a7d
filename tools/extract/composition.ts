/** camelCase of a module name: `order-history` → `orderHistory`. */
export function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A module of the app as the composition root sees it: its code here, or extracted to a service. */
export interface ComposedModule {
  name: string;
  extracted: boolean;
}

/**
 * The source of `src/composition.ts`: the composition root's list of the
 * modules whose code is in this repository (`src/modules/<m>/module.ts`) and
 * the contracts of those extracted to a service of their own. `extract` and
 * `absorb` write it whole (from the modules under src/modules and whether
 * each is extracted), so extract-then-absorb gives back the same bytes.
 */
export function compositionSource(modules: readonly ComposedModule[]): string {
  const sorted = [...modules].sort((a, b) => a.name.localeCompare(b.name));
  const here = sorted.filter((m) => !m.extracted);
  const away = sorted.filter((m) => m.extracted);
  const imports = [
    ...here.map((m) => `import { ${camel(m.name)}Module } from './modules/${m.name}/module.js';`),
    ...away.map((m) => `import { ${camel(m.name)}Contract } from './modules/${m.name}/index.js';`),
  ];
  const list = (names: string[]) => (names.length === 0 ? '[]' : `[${names.join(', ')}]`);
  return [
    '// Written by `npm run extract` and `npm run absorb` (the modules of src/modules, those extracted to extracted/ as contracts).',
    '// A new module is added here by hand in the same form; extract and absorb keep it.',
    ...imports,
    '',
    '/** The modules whose code is in this repository (src/modules/<module>/module.ts). */',
    `export const SHOP_MODULES = ${list(here.map((m) => `${camel(m.name)}Module`))} as const;`,
    '',
    '/** The contracts of the modules extracted to a service of their own (extracted/<module>/): always remote here. */',
    `export const SHOP_EXTRACTED = ${list(away.map((m) => `${camel(m.name)}Contract`))} as const;`,
    '',
  ].join('\n');
}
