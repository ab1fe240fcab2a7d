import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./contracts-cli.ts', import.meta.url));
const TOOLS_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Why a command that deploys a module apart (`npm run extract`) must not run
 * now because of its contracts, in one line with the fix; undefined when
 * `contracts:check` passes. The check runs in a process of its own: it loads
 * the repository's contracts, which must not stay cached in the caller.
 *
 * @example
 * const reason = contractsRefusal(root); // "the contracts check finds 1 breaking change(s) (…): …"
 */
export function contractsRefusal(root: string): string | undefined {
  const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'check', '--root', root], { cwd: TOOLS_ROOT, encoding: 'utf8' });
  if (run.status === 0) return undefined;
  if (run.status === 1) {
    const first = /^✖ (.+)$/m.exec(run.stdout)?.[1] ?? 'see its output';
    const count = /(\d+) breaking change\(s\)/.exec(run.stdout)?.[1] ?? 'some';
    return `the contracts check finds ${count} breaking change(s) (first: ${first}): run npm run contracts:check for what to do instead, make the change compatible or record it on purpose with npm run contracts:update, and commit first; a service deployed apart must not break its callers and consumers`;
  }
  const why = /^✖ contracts check could not run: (.+)$/m.exec(run.stderr)?.[1] ?? (run.stderr.trim().split('\n')[0] || `exit ${run.status ?? run.signal}`);
  return `the contracts check cannot run (${why}): run npm run contracts:check and fix what it says first`;
}
