import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface ChildApp {
  url: string;
  process: ChildProcess;
  /** Every stdout line the process printed so far (pino JSON). */
  lines: string[];
  /** Resolves when the process has exited, however it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

const ROOT = new URL('../..', import.meta.url).pathname;

/** Another command than the repository's `src/main.ts`, e.g. `npm start -w extracted/payments` in a scratch clone. */
export interface ChildCommand {
  command: string;
  args: readonly string[];
  cwd: string;
}

/**
 * Runs `src/main.ts` in a child process, as `npm start` does (or `command`),
 * and resolves once it logged that it listens. A `command` runs in a process
 * group of its own (npm starts node under a shell), which `kill` signals as a
 * whole, by the group's id.
 */
export async function startChildApp(env: Record<string, string>, timeoutMs = 60_000, command?: ChildCommand): Promise<ChildApp> {
  const child = spawn(command?.command ?? process.execPath, command?.args ?? ['--import', 'tsx', 'src/main.ts'], {
    cwd: command?.cwd ?? ROOT,
    detached: command !== undefined,
    // No grace period on SIGTERM unless a test asks for one: stopping children stays quick.
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const signal = (name: NodeJS.Signals) => {
    if (command && child.pid !== undefined) process.kill(-child.pid, name);
    else child.kill(name);
  };
  const lines: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave an orphan behind: a child that did not start is killed by its pid.
      signal('SIGKILL');
      reject(new Error(`child app did not start in ${timeoutMs} ms: ${stderr.join('')}`));
    }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; port?: number };
        if (entry.msg === 'started' && entry.port) {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child app exited with ${code} before starting: ${stderr.join('')}`));
    });
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    lines,
    exited,
    async kill(name) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      signal(name);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
