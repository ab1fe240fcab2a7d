import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { summaryDrift, type DocStep } from './doc-steps.js';
import { matchOutput } from './match-output.js';
import { ShellExitedError, ShellSession } from './shell-session.js';

export interface PageRun {
  /** The page's path, for messages (`docs/migration-guide.md:120`). */
  page: string;
  steps: DocStep[];
  /** Where the shell starts (the page's first `cd` goes from there). */
  cwd: string;
  /** Where step files and background logs go. */
  scratch: string;
  env: NodeJS.ProcessEnv;
  /** Rewrites a command before it runs (the clone URL and the database names of a test run). */
  rewrite: (command: string) => string;
  log: (line: string) => void;
  /** How long a background process may take to answer its `wait=` URL. */
  waitMs?: number;
}

export class PageFailure extends Error {
  constructor(
    readonly where: string,
    message: string,
    readonly output: string,
  ) {
    super(`${where}: ${message}`);
  }
}

const tail = (text: string, lines = 40) => text.trimEnd().split('\n').slice(-lines).join('\n');

async function waitFor(shell: ShellSession, name: string, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (!shell.running(name)) throw new Error(`${name} exited before ${url} answered`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs / 1000} s (last: ${last})`);
}

async function runStep(shell: ShellSession, step: DocStep, run: PageRun, where: string): Promise<string> {
  switch (step.kind) {
    case 'run': {
      const { output } = await shell.run(run.rewrite(step.code), { failFast: true });
      return output;
    }
    case 'console': {
      for (const { command, expected } of step.commands) {
        const { output } = await shell.run(run.rewrite(command), { timeoutMs: 120_000 });
        const mismatch = matchOutput(expected.map(run.rewrite), output);
        if (mismatch) throw new PageFailure(where, `"$ ${command.split('\n')[0]}" did not print the line the page shows:\n  expected: ${mismatch.missing}`, output);
      }
      return '';
    }
    case 'background': {
      await shell.start(step.name, run.rewrite(step.code));
      if (step.waitUrl) {
        try {
          await waitFor(shell, step.name, step.waitUrl, run.waitMs ?? 300_000);
        } catch (error) {
          throw new PageFailure(where, `background process ${step.name}: ${(error as Error).message}`, shell.log(step.name));
        }
      }
      return '';
    }
    case 'summary':
      return '';
    case 'stop': {
      const log = shell.log(step.name);
      if (!(await shell.stop(step.name))) throw new PageFailure(where, `${step.name} did not stop within 30 s of Ctrl-C (SIGINT)`, log);
      return '';
    }
  }
}

function label(step: DocStep): string {
  if (step.kind === 'console') return `console (${step.commands.length} command(s))`;
  if (step.kind === 'background') return `background ${step.name}`;
  if (step.kind === 'stop') return `stop ${step.name}`;
  if (step.kind === 'summary') return `summary (${step.lines.length} line(s), each run below)`;
  return 'sh';
}

/**
 * Runs a page's steps in order in one shell, as a reader would in a terminal.
 * Throws a PageFailure at the first step that fails (a command that exits
 * non-zero in a sh block, an expected output line that is missing, a
 * background process that does not come up); always stops what it started.
 *
 * @example
 * await runPage({ page: 'README.md', steps, cwd, scratch, env, rewrite: (c) => c, log: console.log });
 */
export async function runPage(run: PageRun): Promise<void> {
  const drift = summaryDrift(run.steps)[0];
  if (drift) {
    run.log(`  ✖ ${run.page}:${drift.line}: the summary's line "${drift.text}" is not a command the page runs further on`);
    throw new PageFailure(`${run.page}:${drift.line}`, `the summary's line "${drift.text}" is not a command the page runs further on`, '');
  }
  mkdirSync(run.scratch, { recursive: true });
  const shell = await ShellSession.open(run.cwd, run.scratch, run.env);
  try {
    for (const step of run.steps) {
      const where = `${run.page}:${step.line}`;
      const started = Date.now();
      try {
        await runStep(shell, step, run, where);
      } catch (error) {
        if (error instanceof PageFailure) throw error;
        if (error instanceof ShellExitedError) throw new PageFailure(where, 'a command of this block failed (the block stops at the first failing command)', error.output);
        throw new PageFailure(where, (error as Error).message, '');
      }
      run.log(`  ✔ ${where} ${label(step)} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } catch (error) {
    if (error instanceof PageFailure) {
      run.log(`  ✖ ${error.message}`);
      if (error.output.trim()) run.log(`  its output (last lines):\n${tail(error.output).replace(/^/gm, '    | ')}`);
      for (const name of shell.backgroundNames()) run.log(`  background ${name}'s log (last lines):\n${tail(shell.log(name), 15).replace(/^/gm, '    | ')}`);
    }
    throw error;
  } finally {
    const killed = await shell.close();
    if (killed.length > 0) run.log(`  still running at the end, killed: ${killed.join('; ')}`);
  }
}
