import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GRAPH_FILES, renderArchitectureDocs } from './architecture-docs.js';

/** `npm run arch:graph [-- --check]`: writes the docs, or with --check fails if they are out of date. */
async function main(): Promise<number> {
  const root = process.cwd();
  const docs = renderArchitectureDocs();
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const key of Object.keys(GRAPH_FILES) as Array<keyof typeof GRAPH_FILES>) {
    const file = join(root, GRAPH_FILES[key]);
    if (check) {
      const current = await readFile(file, 'utf8').catch(() => '');
      if (current !== docs[key]) {
        stale += 1;
        console.log(`✖ ${GRAPH_FILES[key]} is out of date: run npm run arch:graph`);
      }
    } else {
      await mkdir(join(root, 'docs/architecture'), { recursive: true });
      await writeFile(file, docs[key]);
      console.log(`wrote ${GRAPH_FILES[key]}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✖ arch:graph failed: ${(error as Error).message}`);
    process.exit(2);
  },
);
