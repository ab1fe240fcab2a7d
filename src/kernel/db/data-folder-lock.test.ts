import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataFolder, type DataFolderLock } from './data-folder-lock.js';

const LINUX = process.platform === 'linux';
const MODULE = new URL('./data-folder-lock.ts', import.meta.url).href;
// A process that tries to lock each of LOCK_FOLDERS in turn, the first at LOCK_AT, the next 100 ms later and so on
// (so that several processes try at the same instant), and reports each outcome on a line. It holds what it won
// until its stdin ends; then it exits without calling release(), leaving that to the exit hook.
const LOCKER = `
const { lockDataFolder } = await import(process.env.LOCK_MODULE);
const at = Number(process.env.LOCK_AT || 0);
for (const [i, folder] of process.env.LOCK_FOLDERS.split(',').entries()) {
  while (Date.now() < at + i * 100);
  try {
    const lock = await lockDataFolder(folder);
    console.log(JSON.stringify({ won: true, stalePid: lock.staleHolder?.pid }));
  } catch (error) {
    console.log(JSON.stringify({ won: false, code: error.code, message: error.message }));
  }
}
process.stdin.on('end', () => process.exit(0)).resume();`;

interface Report {
  won: boolean;
  stalePid?: number;
  code?: string;
  message?: string;
}

interface Locker {
  child: ChildProcess;
  pid: number;
  /** One report per folder, in order. */
  reports: Promise<Report[]>;
  report: Promise<Report>;
}

let dir = '';
let folder = '';
const children: ChildProcess[] = [];
const locks: DataFolderLock[] = [];

function startLocker(folders = [folder], at = 0): Locker {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', LOCKER], {
    env: { ...process.env, LOCK_MODULE: MODULE, LOCK_FOLDERS: folders.join(','), LOCK_AT: String(at) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const reports = new Promise<Report[]>((resolve, reject) => {
    const lines: Report[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(JSON.parse(line) as Report);
      if (lines.length === folders.length) resolve(lines);
    });
    child.once('exit', (code) => reject(new Error(`locker exited with ${code} before reporting`)));
  });
  return { child, pid: child.pid!, reports, report: reports.then((r) => r[0]!) };
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

async function lock(): Promise<DataFolderLock> {
  const taken = await lockDataFolder(folder);
  locks.push(taken);
  return taken;
}

/** Whatever the lock call throws, or undefined. */
async function refusal(): Promise<{ code?: string; message?: string } | undefined> {
  return lock().then(() => undefined, (error: { code?: string; message?: string }) => error);
}

/** Start time of a live process (field 22 of /proc/<pid>/stat), as the lock records it. */
function startTimeOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

function writeLock(holder: { pid: number; startTime?: string }): void {
  writeFileSync(`${folder}.lock`, JSON.stringify({ ...holder, command: 'test', token: 'recorded-by-the-test' }));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mmk-lock-'));
  folder = join(dir, 'pglite');
});

afterEach(async () => {
  for (const taken of locks.splice(0)) taken.release();
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('lockDataFolder', () => {
  it('refuses a folder held in this process until it is released', async () => {
    const first = await lock();
    expect(first).toMatchObject({ folder, path: `${folder}.lock`, staleHolder: undefined });
    expect(await refusal()).toMatchObject({ code: 'KERNEL.DATA_FOLDER_IN_USE', message: expect.stringContaining(`process ${process.pid}`) });
    first.release();
    expect(existsSync(`${folder}.lock`)).toBe(false);
    expect((await lock()).staleHolder).toBeUndefined();
  });

  it('refuses while another process holds the folder, naming the folder and that process', async () => {
    const holder = startLocker();
    expect(await holder.report).toEqual({ won: true });
    const error = await refusal();
    expect(error?.code).toBe('KERNEL.DATA_FOLDER_IN_USE');
    expect(error?.message).toMatch(new RegExp(`^Data folder ${folder} is in use by process ${holder.pid} \\(`));
  });

  it('is released when its holder exits, and taken over at once from a holder killed with SIGKILL', async () => {
    const first = startLocker();
    await first.report;
    first.child.stdin!.end();
    await exited(first.child);
    expect(first.child.exitCode).toBe(0);
    expect(existsSync(`${folder}.lock`)).toBe(false);

    const second = startLocker();
    await second.report;
    second.child.kill('SIGKILL');
    await exited(second.child);
    expect(JSON.parse(readFileSync(`${folder}.lock`, 'utf8'))).toMatchObject({ pid: second.pid });
    const started = Date.now();
    expect((await lock()).staleHolder).toMatchObject({ pid: second.pid });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(readdirSync(dir)).toEqual(['pglite.lock']);
  });

  it.skipIf(!LINUX)('tells a live holder from a later process given the same pid, by its start time', async () => {
    const other = spawn('sleep', ['30']);
    children.push(other);
    await once(other, 'spawn');
    writeLock({ pid: other.pid!, startTime: startTimeOf(other.pid!) });
    expect(await refusal()).toMatchObject({ code: 'KERNEL.DATA_FOLDER_IN_USE', message: expect.stringContaining(`process ${other.pid}`) });

    writeLock({ pid: other.pid!, startTime: '1' });
    expect((await lock()).staleHolder).toMatchObject({ pid: other.pid });
  });

  it('takes over a lock with its own pid that this process does not hold (a restarted container)', async () => {
    writeLock({ pid: process.pid, ...(LINUX && { startTime: startTimeOf(process.pid) }) });
    expect((await lock()).staleHolder).toMatchObject({ pid: process.pid });
  });

  it.skipIf(!LINUX)('takes over from a killed holder that is still a zombie (its parent has not reaped it)', async () => {
    // `sh` becomes `sleep 30`, which never waits for its background child: that child stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(parent);
    const [line] = (await once(createInterface({ input: parent.stdout! }), 'line')) as [string];
    const pid = Number(line);
    const startTime = startTimeOf(pid);
    await expect.poll(() => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0], { timeout: 5_000 }).toBe('Z');
    writeLock({ pid, startTime });
    expect((await lock()).staleHolder).toMatchObject({ pid });
  });

  it('takes over an unreadable lock file', async () => {
    writeFileSync(`${folder}.lock`, '');
    expect((await lock()).staleHolder).toBeNull();
  });

  /** Six processes try to lock each of `folders` at the same instant; for each folder, exactly one may win. */
  async function race(folders: string[]): Promise<Array<{ winner: Locker; report: Report }>> {
    const at = Date.now() + 2_000;
    const racers = Array.from({ length: 6 }, () => startLocker(folders, at));
    const reports = await Promise.all(racers.map((r) => r.reports));
    return folders.map((raced, i) => {
      const winners = racers.filter((_, r) => reports[r]![i]!.won);
      expect(winners, raced).toHaveLength(1);
      const winner = winners[0]!;
      for (const loser of racers.filter((r) => r !== winner)) expect(reports[racers.indexOf(loser)]![i]!.message).toContain(`process ${winner.pid} `);
      expect(JSON.parse(readFileSync(`${raced}.lock`, 'utf8'))).toMatchObject({ pid: winner.pid });
      return { winner, report: reports[racers.indexOf(winner)]![i]! };
    });
  }

  // Several rounds in each race: a lock that is not atomic loses only some of them.
  const ROUNDS = 5;

  it('of processes starting at the same instant on a fresh folder, exactly one wins', async () => {
    const folders = Array.from({ length: ROUNDS }, (_, i) => join(dir, `fresh-${i}`));
    for (const { report } of await race(folders)) expect(report.stalePid).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(folders.map((f) => `${f.slice(dir.length + 1)}.lock`).sort());
  });

  it('of processes starting at the same instant on a stale lock, exactly one takes it over', async () => {
    const dead = spawn('true');
    await once(dead, 'exit');
    const folders = Array.from({ length: ROUNDS }, (_, i) => join(dir, `stale-${i}`));
    for (const stale of folders) writeFileSync(`${stale}.lock`, JSON.stringify({ pid: dead.pid, command: 'test', token: `dead-${stale}` }));
    // The racer that removed the stale lock may lose the race for the new one: the winner may not have seen it.
    for (const { report } of await race(folders)) expect([dead.pid, undefined]).toContain(report.stalePid);
    expect(readdirSync(dir).sort()).toEqual(folders.map((f) => `${f.slice(dir.length + 1)}.lock`).sort());
  });
});
