import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const SENTINEL = '__DOCS_TEST_DONE__';

export interface StepResult {
  exitCode: number;
  output: string;
}

/** The shell died under a step (a failed command under `set -e`, or `exit`). */
export class ShellExitedError extends Error {
  constructor(readonly output: string) {
    super('the shell exited');
  }
}

/** The processes of a session (pid and process group), read from /proc: a session is everything the shell started. */
function sessionProcesses(sid: number): Array<{ pid: number; pgid: number }> {
  const found: Array<{ pid: number; pgid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command name (in parentheses, which may hold spaces): state ppid pgrp session ...
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[3]) === sid) found.push({ pid: Number(entry), pgid: Number(fields[2]) });
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * One bash, kept for a whole page, so that `cd`, variables and background
 * processes carry from one block to the next as they do in a reader's
 * terminal. Each step is written to a file and sourced, its output to a file
 * beside it. Job control is on, so each background process has a process
 * group of its own that `stop` can signal; the shell leads a session of its
 * own, so `close` finds and kills everything it started, by pid.
 *
 * @example
 * const shell = await ShellSession.open(workDir, scratchDir, env);
 * const { exitCode, output } = await shell.run('npm --version');
 * await shell.close();
 */
export class ShellSession {
  readonly #bash: ChildProcessWithoutNullStreams;
  readonly #scratch: string;
  #stdout = '';
  #exited = false;
  #steps = 0;
  readonly #background = new Map<string, { pgid: number; log: string }>();

  private constructor(bash: ChildProcessWithoutNullStreams, scratch: string) {
    this.#bash = bash;
    this.#scratch = scratch;
    bash.stdout.on('data', (chunk: Buffer) => (this.#stdout += chunk.toString()));
    bash.stderr.on('data', (chunk: Buffer) => (this.#stdout += chunk.toString()));
    bash.on('exit', () => (this.#exited = true));
  }

  static async open(cwd: string, scratch: string, env: NodeJS.ProcessEnv): Promise<ShellSession> {
    const bash = spawn('bash', ['--noprofile', '--norc'], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const session = new ShellSession(bash, scratch);
    // -m: background jobs in process groups of their own; -a: variables a page sets reach the processes it starts.
    await session.#send('set -m -a -o pipefail');
    return session;
  }

  get pid(): number {
    return this.#bash.pid ?? 0;
  }

  async #send(line: string, timeoutMs = 30_000): Promise<string> {
    const from = this.#stdout.length;
    this.#bash.stdin.write(`${line}\necho "${SENTINEL} $?"\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.#stdout.slice(from);
      const done = new RegExp(`${SENTINEL} (\\d+)\\n`).exec(seen);
      if (done) return done[1] ?? '1';
      if (this.#exited) throw new ShellExitedError(seen);
      if (Date.now() > deadline) throw new Error(`no answer from the shell within ${Math.round(timeoutMs / 1000)} s`);
      await sleep(25);
    }
  }

  /** Runs code as a reader would type it. With `failFast`, the first failing command ends the shell (set -e). */
  async run(code: string, options: { failFast?: boolean; timeoutMs?: number } = {}): Promise<StepResult> {
    const step = ++this.#steps;
    const file = join(this.#scratch, `step-${step}.sh`);
    const out = join(this.#scratch, `step-${step}.out`);
    writeFileSync(file, options.failFast ? `set -e\n${code}\nset +e\n` : `${code}\n`);
    try {
      const code = await this.#send(`source ${file} </dev/null >${out} 2>&1`, options.timeoutMs ?? 600_000);
      return { exitCode: Number(code), output: readFileSync(out, 'utf8') };
    } catch (error) {
      if (error instanceof ShellExitedError) throw new ShellExitedError(readFileSync(out, 'utf8'));
      throw error;
    }
  }

  /** Starts code in the background (a terminal of its own), its output in a log file; returns the log's path. */
  async start(name: string, code: string): Promise<string> {
    if (this.#background.has(name)) throw new Error(`a background process named ${name} is already running: stop it first`);
    const step = ++this.#steps;
    const file = join(this.#scratch, `step-${step}.sh`);
    const log = join(this.#scratch, `${name}-${step}.log`);
    writeFileSync(file, `${code}\n`);
    await this.#send(`source ${file} </dev/null >${log} 2>&1 &\necho "pgid $!" >${file}.pid`);
    const pgid = Number(readFileSync(`${file}.pid`, 'utf8').split(' ')[1]);
    this.#background.set(name, { pgid, log });
    return log;
  }

  running(name: string): boolean {
    const job = this.#background.get(name);
    return job !== undefined && groupAlive(job.pgid);
  }

  backgroundNames(): string[] {
    return [...this.#background.keys()];
  }

  log(name: string): string {
    const job = this.#background.get(name);
    return job ? readFileSync(job.log, 'utf8') : '';
  }

  /** Ctrl-C in the background process's terminal: SIGINT to its group, then SIGKILL if it is still there after `graceMs`. */
  async stop(name: string, graceMs = 30_000): Promise<boolean> {
    const job = this.#background.get(name);
    if (!job) throw new Error(`no background process named ${name}`);
    this.#background.delete(name);
    if (!groupAlive(job.pgid)) return true;
    process.kill(-job.pgid, 'SIGINT');
    const deadline = Date.now() + graceMs;
    while (groupAlive(job.pgid) && Date.now() < deadline) await sleep(50);
    if (!groupAlive(job.pgid)) return true;
    process.kill(-job.pgid, 'SIGKILL');
    return false;
  }

  /** Ends the shell and everything it started that still runs; returns the command lines of the processes it had to kill. */
  async close(): Promise<string[]> {
    for (const name of [...this.#background.keys()]) await this.stop(name, 15_000);
    if (!this.#exited) this.#bash.stdin.end('exit\n');
    for (let waited = 0; !this.#exited && waited < 2_000; waited += 50) await sleep(50);
    const killed: string[] = [];
    for (const { pid } of sessionProcesses(this.pid)) {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
        process.kill(pid, 'SIGKILL');
        killed.push(`${pid} ${command.slice(0, 120)}`);
      } catch {
        // Already gone.
      }
    }
    return killed;
  }
}
