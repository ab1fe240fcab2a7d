import { randomUUID } from 'node:crypto';
import { linkSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '../errors/app-error.js';
import { currentProcessIdentity, isProcessRunning, type ProcessIdentity } from './process-identity.js';

/** Who holds a data folder, as its lock file records it. */
export interface LockHolder extends ProcessIdentity {
  /** How the holder was started, e.g. `npm start` or `src/cli/migrate.ts`. */
  command: string;
  /** Unique per lock taken: tells one holder's file from the next one's. */
  token: string;
}

export interface DataFolderLockOptions {
  /** What to do about a folder in use, appended to the refusal. */
  remedy?: string;
}

/** A data folder held by this process until `release()` or its exit. */
export interface DataFolderLock {
  readonly folder: string;
  /** The lock file, `<folder>.lock`. */
  readonly path: string;
  /** The holder whose lock this one replaced because it no longer ran (killed, crashed); `null` for an unreadable lock file. */
  readonly staleHolder: LockHolder | null | undefined;
  release(): void;
}

/** Locks held by this process, by lock file. Released on exit, when nothing async runs any more. */
const held = new Map<string, { token: string; content: string }>();
let releaseOnExit = false;
// While another process holds the stale-takeover guard (microseconds), poll for up to 4 s.
const RETRY_MS = 20;
const MAX_TRIES = 200;

/**
 * Makes this process the only one using `folder`, or throws an AppError
 * (`KERNEL.DATA_FOLDER_IN_USE`) naming the process that uses it. A lock left
 * by a process that no longer runs (kill -9, a crash) is taken over at once.
 *
 * Hand-written: proper-lockfile and lockfile judge a lock stale by its age, so a
 * restart after a crash would wait out that age, and a live holder that stalls
 * longer would lose its lock. Here the lock is the holder's pid and start time,
 * created atomically with link(2): of two processes starting at the same
 * instant, exactly one gets it.
 *
 * @example
 * const lock = await lockDataFolder('.data/pglite');
 * try { ... } finally { lock.release(); }
 */
export async function lockDataFolder(folder: string, options: DataFolderLockOptions = {}): Promise<DataFolderLock> {
  const absolute = resolve(folder);
  const path = `${absolute}.lock`;
  const me: LockHolder = { ...currentProcessIdentity(), command: describeCommand(), token: randomUUID() };
  const content = `${JSON.stringify(me)}\n`;
  // Written in full under a name of its own, then linked into place: nobody ever reads a half-written lock.
  const draft = `${path}.${me.token}`;
  writeFileSync(draft, content, { flag: 'wx' });
  let staleHolder: LockHolder | null | undefined;
  try {
    for (let tries = 0; tries < MAX_TRIES; tries += 1) {
      if (linkIfAbsent(draft, path)) return hold(absolute, path, { token: me.token, content }, staleHolder);
      const current = readIfPresent(path);
      if (current === undefined) continue;
      const holder = parseHolder(current);
      if (holder && isHeld(holder, path)) throw inUse(absolute, path, holder, options.remedy);
      staleHolder = holder;
      if (!removeStale(path, current, draft)) await sleep(RETRY_MS);
    }
  } finally {
    rmSync(draft, { force: true });
  }
  throw new AppError('UNAVAILABLE', 'KERNEL.DATA_FOLDER_LOCK', `could not lock ${absolute}: ${path}.takeover stays in the way; remove it if no process is starting`);
}

function hold(folder: string, path: string, mine: { token: string; content: string }, staleHolder: LockHolder | null | undefined): DataFolderLock {
  if (!releaseOnExit) process.on('exit', releaseAll);
  releaseOnExit = true;
  held.set(path, mine);
  return {
    folder,
    path,
    staleHolder,
    release() {
      if (held.get(path) !== mine) return;
      held.delete(path);
      removeIfSame(path, mine.content);
    },
  };
}

function releaseAll(): void {
  for (const [path, { content }] of held) removeIfSame(path, content);
  held.clear();
}

function isHeld(holder: LockHolder, path: string): boolean {
  // Our own pid on a lock this process does not hold: a former process of ours, as in a restarted container.
  if (holder.pid === process.pid) return held.get(path)?.token === holder.token;
  return isProcessRunning(holder);
}

/**
 * Removes the stale lock file whose content is `stale`, unless another
 * process replaced it meanwhile. Two processes may both find the same stale
 * lock; without the guard, the slower one would delete the lock the faster one
 * just took. The guard is held for a few microseconds; one left behind by a
 * process killed in between is removed the same way, by its holder's pid.
 */
function removeStale(path: string, stale: string, draft: string): boolean {
  const guard = `${path}.takeover`;
  if (!linkIfAbsent(draft, guard)) {
    const other = readIfPresent(guard);
    const holder = other === undefined ? undefined : parseHolder(other);
    if (other !== undefined && (!holder || !isHeld(holder, guard))) removeIfSame(guard, other);
    return false;
  }
  try {
    removeIfSame(path, stale);
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

function inUse(folder: string, path: string, holder: LockHolder, remedy: string | undefined): AppError {
  const message = `Data folder ${folder} is in use by process ${holder.pid} (${holder.command})${remedy ? `: ${remedy}` : ''}`;
  return new AppError('UNAVAILABLE', 'KERNEL.DATA_FOLDER_IN_USE', message, { details: { folder, lockFile: path, pid: holder.pid, command: holder.command } });
}

/** `npm start`, `npm run migrate`, … when that npm script started this process; else the script, e.g. `src/main.ts`. */
function describeCommand(): string {
  const script = process.argv[1] ? relative(process.cwd(), process.argv[1]) : undefined;
  const event = process.env.npm_lifecycle_event;
  // Children of an npm script inherit its variables: a process that `npm test` spawns is not `npm test`.
  if (event && script && process.env.npm_lifecycle_script?.includes(script)) {
    return ['start', 'stop', 'test', 'restart'].includes(event) ? `npm ${event}` : `npm run ${event}`;
  }
  return script ?? process.argv0;
}

function parseHolder(content: string): LockHolder | null {
  try {
    const value = JSON.parse(content) as Partial<LockHolder>;
    return Number.isInteger(value.pid) && typeof value.token === 'string' ? (value as LockHolder) : null;
  } catch {
    return null;
  }
}

function linkIfAbsent(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function removeIfSame(path: string, content: string): void {
  if (readIfPresent(path) !== content) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
