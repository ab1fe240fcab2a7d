/**
 * Child processes of a bench that runs commands as an operator types them
 * (`npm run …`, `node dist/main.js`, a shell pipe): each starts in a process
 * group of its own, so stopping it reaches npm's children too, and every
 * group still running is killed when the bench ends, however it ends.
 *
 * @example
 * const build = await runCommand('build', 'npm', ['run', 'build'], { cwd });
 * const server = launch('service', process.execPath, ['dist/main.js'], { cwd, env });
 * await waitForLine(server, (line) => line.includes('"msg":"started"'), 60_000);
 * await stopGroup(server, 'SIGTERM');
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Launched {
  name: string;
  child: ChildProcess;
  /** performance.now() just before the spawn. */
  startedAt: number;
  /** The last lines of stdout and stderr (for error messages). */
  tail: string[];
  stdout: string;
  stderr: string;
  /** Resolves once the process exited: its code or signal and performance.now() then. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Resolves once its output pipes closed too (every line read). */
  closed: Promise<void>;
  /** Called with every stdout line as it comes. */
  onLine: Set<(line: string, at: number) => void>;
}

const groups = new Set<ChildProcess>();

/** Starts `command` in a process group of its own; its output is kept (stdout whole, the tail of both). */
export function launch(name: string, command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; keepStdout?: boolean }): Launched {
  const startedAt = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  groups.add(child);
  const launched: Launched = { name, child, startedAt, tail: [], stdout: '', stderr: '', exited: undefined as never, closed: undefined as never, onLine: new Set() };
  const keep = (line: string) => {
    launched.tail.push(line.slice(0, 400));
    if (launched.tail.length > 40) launched.tail.splice(0, launched.tail.length - 40);
  };
  // Both pipes are always drained: a chatty child must never block on a full pipe.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const at = performance.now();
    if (options.keepStdout !== false) launched.stdout += `${line}\n`;
    keep(line);
    for (const listener of launched.onLine) listener(line, at);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => {
    launched.stderr += `${line}\n`;
    keep(line);
  });
  launched.exited = new Promise((resolve) => {
    child.once('error', (error) => {
      keep(String(error));
      resolve({ code: null, signal: null, at: performance.now() });
    });
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  launched.closed = new Promise((resolve) => {
    child.once('error', () => resolve());
    // The pipes close when every process of the group that held them is gone: only then is the group forgotten.
    child.once('close', () => {
      groups.delete(child);
      resolve();
    });
  });
  return launched;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from just before the spawn to the exit, in ms. */
  ms: number;
}

/** Runs a command to its end (killed after `timeoutMs`) and times it. */
export async function runCommand(name: string, command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CommandResult> {
  const launched = launch(name, command, args, options);
  const timer = setTimeout(() => signalGroup(launched.child, 'SIGKILL'), options.timeoutMs ?? 300_000);
  const { code, signal, at } = await launched.exited;
  await launched.closed;
  clearTimeout(timer);
  return { code, signal, stdout: launched.stdout, stderr: launched.stderr, ms: at - launched.startedAt };
}

/** Like runCommand, and throws with the command's output unless it exits with 0. */
export async function mustRun(name: string, command: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CommandResult> {
  const result = await runCommand(name, command, args, options);
  if (result.code !== 0) throw new Error(`${name} failed (code ${result.code}, signal ${result.signal}):\n${result.stdout.slice(-2_000)}${result.stderr.slice(-2_000)}`);
  return result;
}

/** Resolves with the first stdout line `match` accepts (and when it came); rejects if the process exits or the time runs out first. */
export function waitForLine(launched: Launched, match: (line: string) => boolean, timeoutMs: number): Promise<{ line: string; at: number }> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      launched.onLine.delete(listener);
    };
    const listener = (line: string, at: number) => {
      if (!match(line)) return;
      done();
      resolve({ line, at });
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${launched.name}: no awaited line within ${timeoutMs / 1000} s\n--- output ---\n${launched.tail.join('\n')}`));
    }, timeoutMs);
    launched.onLine.add(listener);
    void launched.exited.then(({ code, signal }) => {
      if (!launched.onLine.has(listener)) return;
      done();
      reject(new Error(`${launched.name} exited (code ${code}, signal ${signal}) before the awaited line\n--- output ---\n${launched.tail.join('\n')}`));
    });
  });
}

/** Signals the whole group (npm's children too, even after npm itself exited). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

/** Sends `signal` to the process group and waits for the exit (SIGKILL after `killAfterMs`); resolves with the time of the exit. */
export async function stopGroup(launched: Launched, signal: NodeJS.Signals = 'SIGTERM', killAfterMs = 10_000): Promise<number> {
  const killer = setTimeout(() => signalGroup(launched.child, 'SIGKILL'), killAfterMs);
  signalGroup(launched.child, signal);
  const { at } = await launched.exited;
  clearTimeout(killer);
  return at;
}

/** SIGKILL to every process group this module started that still runs (the bench ends). */
export function killAllGroups(): void {
  for (const child of groups) signalGroup(child, 'SIGKILL');
}

/** Ports no one listens on right now; the servers are held open until all are picked, so the ports differ. */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = createServer();
      await new Promise<void>((ready, fail) => {
        server.once('error', fail);
        server.listen(0, '127.0.0.1', ready);
      });
      servers.push(server);
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  }
}
