import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runArchCheck } from '../tools/arch/run-arch-check.js';
import { writeSyntheticMonolith } from './synthetic-monolith.js';

const ROOT = new URL('..', import.meta.url).pathname;
const MODULES = Number(process.env.BENCH_ARCH_MODULES ?? 200);
const FILES_PER_MODULE = Number(process.env.BENCH_ARCH_FILES_PER_MODULE ?? 50);

function timeCommand(args: string[]): number {
  const started = performance.now();
  execFileSync('npm', args, { cwd: ROOT, stdio: 'ignore', env: { ...process.env, npm_config_loglevel: 'error' } });
  return (performance.now() - started) / 1000;
}

async function timeCheck(root: string): Promise<{ seconds: number; files: number; ok: boolean }> {
  const started = performance.now();
  const report = await runArchCheck({ root });
  return { seconds: (performance.now() - started) / 1000, files: report.modulesCruised, ok: report.ok };
}

/** `npm run bench:arch`: arch:check on this project and on a synthetic 200-module monolith. */
async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} cores, node ${process.version}`);
  await rm(join(ROOT, 'node_modules/.cache/dependency-cruiser'), { recursive: true, force: true });
  const projectCold = timeCommand(['run', '-s', 'arch:check']);
  const projectWarm = timeCommand(['run', '-s', 'arch:check']);

  const dir = await mkdtemp(join(tmpdir(), 'mmk-synthetic-'));
  try {
    const written = await writeSyntheticMonolith(dir, { modules: MODULES, filesPerModule: FILES_PER_MODULE });
    const cold = await timeCheck(dir);
    const warm = await timeCheck(dir);
    if (!cold.ok || !warm.ok) throw new Error('the synthetic monolith should pass the rules');
    const rows = [
      ['project: npm run arch:check, cold cache', `${projectCold.toFixed(2)} s`, 'goal <= 5 s'],
      ['project: npm run arch:check, warm cache', `${projectWarm.toFixed(2)} s`, 'goal <= 5 s'],
      [`synthetic: ${MODULES} modules, ${written} .ts files, cold cache`, `${cold.seconds.toFixed(2)} s (${cold.files} files cruised)`, 'goal <= 60 s'],
      [`synthetic: warm cache`, `${warm.seconds.toFixed(2)} s`, 'goal <= 60 s'],
    ];
    for (const [what, value, goal] of rows) console.log(`${what!.padEnd(58)} ${value!.padEnd(32)} ${goal}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
