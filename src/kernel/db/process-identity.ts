import { readFileSync } from 'node:fs';

/** A process as a lock records it: its pid, plus what tells it apart from a later process given the same pid. */
export interface ProcessIdentity {
  pid: number;
  /** Linux: start time in clock ticks since boot (`/proc/<pid>/stat` field 22); undefined elsewhere. */
  startTime?: string;
  /** Linux: the kernel's boot id; a process recorded during an earlier boot is gone. */
  bootId?: string;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** State and start time from `/proc/<pid>/stat`, or undefined where there is no such file. */
function procStat(pid: number | 'self'): { state: string; startTime: string } | undefined {
  const text = readProc(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // Field 2, the command name, is in parentheses and may hold spaces or ')': field 3 on follows the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, startTime] = [fields[0], fields[19]];
  return state && startTime ? { state, startTime } : undefined;
}

/**
 * This process's identity, to record in a lock.
 *
 * @example
 * const me = currentProcessIdentity(); // { pid: 4242, startTime: '8812345', bootId: '5f0c…' } on Linux
 */
export function currentProcessIdentity(): ProcessIdentity {
  const startTime = procStat('self')?.startTime;
  const bootId = readProc('/proc/sys/kernel/random/boot_id')?.trim();
  return { pid: process.pid, ...(startTime && { startTime }), ...(bootId && { bootId }) };
}

/**
 * Whether the recorded process still runs. The pid alone is not enough: the
 * system hands it to a new process sooner or later (in a container, often the
 * very next start gets it), so on Linux the start time must match too.
 * Elsewhere only `process.kill(pid, 0)` can tell. A process that exists but
 * cannot be inspected counts as running.
 *
 * @example
 * if (!isProcessRunning(holder)) console.log(`pid ${holder.pid} is gone`);
 */
export function isProcessRunning(identity: ProcessIdentity): boolean {
  const ownBootId = currentProcessIdentity().bootId;
  if (identity.bootId && ownBootId && identity.bootId !== ownBootId) return false;
  try {
    process.kill(identity.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (identity.startTime === undefined) return true;
  const stat = procStat(identity.pid);
  if (!stat) return true;
  // A killed process that its parent has not reaped yet is a zombie: it still has its pid but holds nothing.
  return stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === identity.startTime;
}
