import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface SyntheticOptions {
  modules: number;
  filesPerModule: number;
}

/**
 * Writes a synthetic modular monolith that follows every rule: a kernel
 * entry point, `modules` modules each with a manifest, an index.ts and
 * internal files that import each other (type-only imports included), and
 * modules that use the APIs of up to three lower-numbered modules.
 */
export async function writeSyntheticMonolith(root: string, options: SyntheticOptions): Promise<number> {
  const files = new Map<string, string>();
  files.set('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, verbatimModuleSyntax: true, noEmit: true }, include: ['src'] }, null, 2));
  files.set('src/kernel/index.ts', 'export interface ModuleDefinition {\n  name: string;\n  dependsOn: string[];\n}\nexport const defineModule = (m: ModuleDefinition): ModuleDefinition => m;\n');
  const name = (i: number) => `m${String(i).padStart(3, '0')}`;
  const imports: string[] = [];
  for (let i = 0; i < options.modules; i += 1) {
    const deps = [i - 1, i - 7, i - 31].filter((d) => d >= 0).map(name);
    const m = name(i);
    files.set(`src/modules/${m}/module.json`, JSON.stringify({ dependsOn: deps }));
    const internal = options.filesPerModule - 2;
    for (let f = 0; f < internal; f += 1) {
      const lines = [`// ${m} file ${f}`];
      if (f > 0) lines.push(`import { value${f - 1} } from './file-${f - 1}.js';`);
      if (f > 1) lines.push(`import type { Shape${f - 2} } from './file-${f - 2}.js';`);
      lines.push(`export interface Shape${f} {\n  id: string;\n  n: number;\n}`);
      lines.push(`export const value${f} = ${f > 0 ? `value${f - 1} + 1` : '0'};`);
      if (f > 1) lines.push(`export const make${f} = (s: Shape${f - 2}): Shape${f} => ({ id: s.id, n: value${f} });`);
      files.set(`src/modules/${m}/internal/file-${f}.ts`, `${lines.join('\n')}\n`);
    }
    files.set(
      `src/modules/${m}/index.ts`,
      [
        "import { defineModule } from '../../kernel/index.js';",
        `import { value${internal - 1} } from './internal/file-${internal - 1}.js';`,
        ...deps.map((d) => `import type { ${d}Api } from '../${d}/index.js';`),
        `export interface ${m}Api {\n  total: number;\n}`,
        `export const ${m}Value: number = value${internal - 1};`,
        deps.length ? `export type ${m}Needs = [${deps.map((d) => `${d}Api`).join(', ')}];` : '',
        `export const ${m}Module = defineModule({ name: '${m}', dependsOn: ${JSON.stringify(deps)} });`,
        '',
      ].join('\n'),
    );
    imports.push(`import { ${m}Module } from './modules/${m}/index.js';`);
  }
  files.set('src/app.ts', `${imports.join('\n')}\n\nexport const MODULES = [${Array.from({ length: options.modules }, (_, i) => `${name(i)}Module`).join(', ')}];\n`);
  for (const [path, content] of files) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return [...files.keys()].filter((p) => p.endsWith('.ts')).length;
}
