/**
 * `npm run build`: the production build of the monolith. esbuild bundles
 * `src/main.ts` (`npm start`), `src/cli/migrate.ts` and `src/cli/events.ts`
 * to plain JavaScript in `dist/` (`node dist/main.js`, `node dist/migrate.js`,
 * `node dist/events.js <command>`), with the code they share and what they
 * load on demand (PGlite's driver, the BullMQ bus, the OpenTelemetry SDK) in
 * chunks beside them, and compiles each module's migrations to
 * `dist/migrations/<module>/`, where the built entry points read them.
 * npm packages stay external, resolved from `node_modules/` at run time
 * (PGlite finds its wasm and data files in its own package), as in the
 * extracted services' builds (tools/extract/service-files.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = join(ROOT, 'dist');
const MIGRATION_FILE = /^\d{14}_[\w-]+\.ts$/;

const common: BuildOptions = { bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'warning', absWorkingDir: ROOT };

rmSync(DIST, { recursive: true, force: true });
const started = performance.now();
await build({
  ...common,
  entryPoints: { main: 'src/main.ts', migrate: 'src/cli/migrate.ts', events: 'src/cli/events.ts' },
  outdir: DIST,
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
});
const modules = readdirSync(join(ROOT, 'migrations'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
for (const module of modules) {
  const files = readdirSync(join(ROOT, 'migrations', module)).filter((f) => MIGRATION_FILE.test(f));
  if (files.length > 0) await build({ ...common, entryPoints: files.map((f) => `migrations/${module}/${f}`), outdir: join(DIST, 'migrations', module) });
}
console.log(`built dist/main.js, dist/migrate.js, dist/events.js and the migrations of ${modules.join(', ')} in ${Math.round(performance.now() - started)} ms`);
