import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
// The data-moving code only, not the kernel's entry point or the modules: the command's start-up is part of the
// window during which a moved module answers 503 (docs/benchmarks.md, "Extraction and data moves").
import { AppError } from '../kernel/errors/app-error.js';
import { moveModuleData, redactUrl } from '../kernel/db/move-data.js';

/**
 * The modules of this codebase, read from the folders rather than by loading their code: every module keeps its
 * contract half in src/modules/<module>/index.ts, also once `extract` moved its implementation to extracted/<module>/.
 */
const MODULES = readdirSync('src/modules', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join('src/modules', entry.name, 'index.ts')))
  .map((entry) => entry.name)
  .sort();
const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url) && URL.canParse(url);

/** The module's migrations, wherever its code is now (src layout or extracted/<module>/). */
function migrationsDirOf(module: string): string | null {
  for (const dir of [join('migrations', module), join('extracted', module, 'migrations', module)]) if (existsSync(dir)) return dir;
  return null;
}

/**
 * `npm run move-data -- <module> --to <postgres-url> [--from <postgres-url>]`:
 * copies the module's schema to another database, verifies it, then closes
 * the old copy (docs/extraction.md).
 */
async function main(argv: string[]): Promise<number> {
  const fail = (line: string) => process.stderr.write(`${line}\n`);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const program = new Command('move-data')
    .argument('<module>', `the module whose data moves (${MODULES.join(', ')})`)
    .requiredOption('--to <postgres-url>', 'the database the data moves to')
    .option('--from <postgres-url>', 'the database the data is in (default: DATABASE_URL)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => fail(text.trimEnd()) });
  try {
    program.parse(argv, { from: 'user' });
  } catch (error) {
    return error instanceof CommanderError && error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  const [module] = program.args as [string];
  const { to, from = process.env.DATABASE_URL || undefined } = program.opts<{ to: string; from?: string }>();
  const refuse = (line: string) => {
    fail(`✖ move-data ${module}: ${line}`);
    return 2;
  };
  if (!MODULES.includes(module)) return refuse(`unknown module "${module}": the modules are ${MODULES.join(', ')}`);
  if (from === undefined) return refuse('no source database: set DATABASE_URL to the database that holds the data (the monolith\'s), or pass --from <postgres-url>');
  if (!isPostgresUrl(from)) return refuse(`the source ${from.startsWith('postgres') ? redactUrl(from) : JSON.stringify(from)} is not a postgres:// URL: move-data copies between PostgreSQL databases (the embedded PGlite is for one process; see docs/operations.md)`);
  if (!isPostgresUrl(to)) return refuse(`--to ${to.startsWith('postgres') ? redactUrl(to) : JSON.stringify(to)} is not a postgres:// URL: pass the PostgreSQL database the data moves to`);
  const migrationsDir = migrationsDirOf(module);
  log(`move-data ${module}: from ${redactUrl(from)} to ${redactUrl(to)}`);
  const started = Date.now();
  try {
    const reports = await moveModuleData({ module, from, to, migrationsDir, log });
    const rows = reports.reduce((sum, r) => sum + r.rows, 0);
    const seconds = (Date.now() - started) / 1000;
    log(`✔ move-data ${module}: ${reports.length} tables, ${rows.toLocaleString('en-US')} rows moved and verified in ${seconds.toFixed(1)} s`);
    log(`next: start the processes that run ${module} with DATABASE_URL=${redactUrl(to)}; its events waited in Redis and the outbox meanwhile`);
    log(`undo: npm run move-data -- ${module} --from ${redactUrl(to)} --to ${redactUrl(from)}`);
    return 0;
  } catch (error) {
    if (error instanceof AppError) {
      fail(`✖ move-data ${module}: ${error.message}`);
      return error.kind === 'INTERNAL' ? 1 : 2;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✖ move-data failed; the source was not marked moved: ${(error as Error).message}`);
    process.exit(1);
  },
);
