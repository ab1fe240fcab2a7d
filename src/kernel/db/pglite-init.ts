import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/config.js';

/**
 * What the child process runs: PGlite creates the data folder (initdb) and
 * closes it. Its arguments are PGlite's entry point and the folder. It stops
 * when its stdin closes: the process that started it is gone.
 */
const INIT_SCRIPT = `
const [entry, folder] = process.argv.slice(1);
process.stdin.on('close', () => process.exit(1)).resume();
const { PGlite } = await import(entry);
const db = new PGlite(folder);
await db.waitReady;
await db.close();
process.exit(0);
`;

/** True once `folder` holds a PostgreSQL data folder (PGlite then resumes it instead of running initdb). */
export function isDataFolderInitialised(folder: string): boolean {
  return existsSync(join(folder, 'PG_VERSION'));
}

/**
 * Creates the PGlite data folder `folder` (held by this process's lock) in a
 * child process, then moves it into place. Two reasons: initdb runs a second,
 * temporary PGlite and copies of its memory, 500-600 MB that this process
 * would keep for its whole life (V8 never hands wasm memory back), and a
 * first start killed half-way leaves an empty folder to start again from, not
 * a half-made one (the work happens in `<folder>.init-<pid>`, renamed at the end).
 *
 * @example
 * if (!isDataFolderInitialised('.data/pglite')) await initDataFolder('.data/pglite');
 */
export async function initDataFolder(folder: string): Promise<void> {
  if (existsSync(folder) && readdirSync(folder).length > 0) {
    throw new ConfigError(`Invalid setting DATA_DIR: ${folder} holds files but no PostgreSQL data (no PG_VERSION); delete that folder to start empty, or set DATA_DIR to another folder`);
  }
  removeUnfinished(folder);
  const draft = `${folder}.init-${process.pid}`;
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  try {
    await runInit(entry, draft);
    // The lock sits beside the folder, which the lock taker created empty: nothing else can be in it yet.
    if (existsSync(folder)) rmdirSync(folder);
    renameSync(draft, folder);
  } finally {
    rmSync(draft, { recursive: true, force: true });
  }
}

/** Drafts left by a first start that was killed: this process holds the lock, so no one else is writing them. */
function removeUnfinished(folder: string): void {
  const prefix = `${basename(folder)}.init-`;
  const parent = dirname(folder);
  for (const name of readdirSync(parent)) if (name.startsWith(prefix)) rmSync(join(parent, name), { recursive: true, force: true });
}

function runInit(entry: string, draft: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', INIT_SCRIPT, entry, draft], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      child.stdin.destroy();
      if (code === 0) resolve();
      else reject(new Error(`creating the PGlite data folder ${draft} failed (exit code ${code}, signal ${signal}): ${stderr.trim()}`));
    });
  });
}
