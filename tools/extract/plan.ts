import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { importsAnyOf, rewriteImports, type FileMoves } from './codemod.js';
import { compositionSource } from './composition.js';
import { deployFiles } from './deploy-files.js';
import { serviceBuild, serviceEvents, serviceMain, servicePackageJson, serviceReadme, type ServiceSpec } from './service-files.js';
import { formatTopologyJson, readTopologyJson, TOPOLOGY_FILE, type TopologyJson } from './topology-file.js';

/** One step of extract or absorb: what it does, and enough to undo it. */
export type Step =
  | { kind: 'move'; from: string; to: string }
  | { kind: 'write'; path: string; content: string; why: string }
  | { kind: 'edit'; path: string; before: string; after: string; why: string }
  | { kind: 'delete'; path: string; content: string; why: string }
  | { kind: 'lockfile'; why: string };

export interface Plan {
  command: 'extract' | 'absorb';
  module: string;
  steps: Step[];
}

/** A precondition that failed: the reason and the fix, one line. */
export class Refusal extends Error {}

export const COMPOSITION_FILE = 'src/composition.ts';
const MONOLITH_URL = 'http://127.0.0.1:3000';
/** The base image's Node.js line (node:<major>-bookworm-slim): the engines' major, not this machine's exact version, so the files do not change with it. */
const NODE_IMAGE = '20';
/** Folders whose TypeScript never imports the app's modules for real (the architecture rules' fixtures). */
const NOT_SCANNED = ['test/arch/fixtures/', 'node_modules/'];

const git = (root: string, args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The app's modules: those under src/modules (with an index.ts) plus those already extracted. */
export function modulesOf(root: string): string[] {
  const dir = join(root, 'src', 'modules');
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

/** Tracked files under the given paths (files, not folders), repository-relative. */
function trackedUnder(root: string, paths: string[]): string[] {
  const existing = paths.filter((p) => existsSync(join(root, p)));
  if (existing.length === 0) return [];
  return git(root, ['ls-files', '-z', '--', ...existing]).split('\0').filter(Boolean).sort();
}

/** The file moves of one module: its implementation entry, internals and migrations, old path → new path. */
function fileMoves(root: string, module: string, direction: 'out' | 'in'): { dirs: { from: string; to: string }[]; files: Map<string, string> } {
  const pairs = [
    { home: `src/modules/${module}/module.ts`, away: `extracted/${module}/src/module.ts` },
    { home: `src/modules/${module}/internal`, away: `extracted/${module}/src/internal` },
    { home: `migrations/${module}`, away: `extracted/${module}/migrations/${module}` },
  ];
  const dirs = pairs
    .map((p) => (direction === 'out' ? { from: p.home, to: p.away } : { from: p.away, to: p.home }))
    .filter((d) => existsSync(join(root, d.from)));
  const files = new Map<string, string>();
  for (const d of dirs) for (const f of trackedUnder(root, [d.from])) files.set(f, d.to + f.slice(d.from.length));
  return { dirs, files };
}

/** The rewrites that keep every import pointing at the same file: in the moved files and in the files that import them. */
function importRewrites(root: string, moves: FileMoves, skip: Set<string>): Step[] {
  const steps: Step[] = [];
  for (const [from, to] of moves) {
    if (!from.endsWith('.ts')) continue;
    const before = readFileSync(join(root, from), 'utf8');
    const after = rewriteImports(before, from, to, moves);
    if (after !== before) steps.push({ kind: 'edit', path: to, before, after, why: 'imports rewritten for its new place' });
  }
  const others = git(root, ['ls-files', '-z', '--', '*.ts']).split('\0').filter((f) => f && !moves.has(f) && !skip.has(f) && !NOT_SCANNED.some((n) => f.startsWith(n)));
  for (const file of others.sort()) {
    if (!existsSync(join(root, file))) continue;
    const before = readFileSync(join(root, file), 'utf8');
    if (!importsAnyOf(before, file, moves)) continue;
    const after = rewriteImports(before, file, file, moves);
    if (after !== before) steps.push({ kind: 'edit', path: file, before, after, why: 'imports the moved code' });
  }
  return steps;
}

function serviceSpec(root: string, module: string, modules: string[]): ServiceSpec {
  const rootName = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name;
  return { module, others: modules.filter((m) => m !== module), port: 3001 + modules.indexOf(module), monolithUrl: MONOLITH_URL, rootName };
}

/** extract's record of the files it wrote: absorb deletes exactly those, and only while unchanged. */
export const MANIFEST = 'extract-manifest.json';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The manifest extract writes beside the generated files: each file's SHA-256, so absorb can tell an edited one. */
function manifestOf(module: string, files: Map<string, string>): string {
  const prefix = `extracted/${module}/`;
  const entries = Object.fromEntries([...files].map(([path, content]) => [path.slice(prefix.length), sha256(content)]));
  return `${JSON.stringify({ $comment: `Written by npm run extract -- ${module}: the generated files and their SHA-256. npm run absorb deletes them while they are unchanged.`, files: entries }, null, 2)}\n`;
}

/**
 * The files extract wrote for a module, by repository-relative path, with
 * whether each still has the content it was written with (from the
 * manifest; without one, all generated file names are taken, unchanged
 * when equal to what extract would write now).
 */
export function writtenFiles(root: string, module: string): { path: string; unchanged: boolean }[] {
  const manifestPath = join(root, 'extracted', module, MANIFEST);
  if (!existsSync(manifestPath)) {
    return [...generatedFiles(root, module, modulesOf(root))].filter(([path]) => existsSync(join(root, path))).map(([path, content]) => ({ path, unchanged: readFileSync(join(root, path), 'utf8') === content }));
  }
  const { files } = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Record<string, string> };
  const listed = Object.entries(files)
    .map(([rel, hash]) => ({ path: `extracted/${module}/${rel}`, hash }))
    .filter(({ path }) => existsSync(join(root, path)))
    .map(({ path, hash }) => ({ path, unchanged: sha256(readFileSync(join(root, path), 'utf8')) === hash }));
  return [...listed, { path: `extracted/${module}/${MANIFEST}`, unchanged: true }];
}

/** Every file extract writes in extracted/<module>/, by repository-relative path. */
export function generatedFiles(root: string, module: string, modules: string[]): Map<string, string> {
  const spec = serviceSpec(root, module, modules);
  const manifest = JSON.parse(readFileSync(join(root, 'src', 'modules', module, 'module.json'), 'utf8')) as { dependsOn?: string[] };
  const files: Record<string, string> = {
    'package.json': servicePackageJson(spec),
    'src/main.ts': serviceMain(spec),
    'src/events.ts': serviceEvents(spec),
    'build.mjs': serviceBuild(spec),
    'README.md': serviceReadme({ ...spec, dependsOn: manifest.dependsOn ?? [] }),
    ...deployFiles({ module, others: spec.others, dependsOn: manifest.dependsOn ?? [], port: spec.port, nodeVersion: NODE_IMAGE }),
  };
  return new Map(Object.entries(files).map(([path, content]) => [`extracted/${module}/${path}`, content]));
}

function compositionEdit(root: string, modules: string[], extracted: Set<string>, why: string): Step[] {
  const before = readFileSync(join(root, COMPOSITION_FILE), 'utf8');
  const after = compositionSource(modules.map((name) => ({ name, extracted: extracted.has(name) })));
  return after === before ? [] : [{ kind: 'edit', path: COMPOSITION_FILE, before, after, why }];
}

function topologyEdit(root: string, change: (file: TopologyJson) => void, why: string): Step {
  const before = readFileSync(join(root, TOPOLOGY_FILE), 'utf8');
  const file = readTopologyJson(root);
  change(file);
  return { kind: 'edit', path: TOPOLOGY_FILE, before, after: formatTopologyJson(file), why };
}

/** Whether a module's code has been moved to extracted/<module>/. */
export function isExtracted(root: string, module: string): boolean {
  return existsSync(join(root, 'extracted', module, 'src', 'module.ts'));
}

export function extractedModules(root: string, modules: string[]): Set<string> {
  return new Set(modules.filter((m) => isExtracted(root, m)));
}

function generatedSteps(root: string, module: string, modules: string[]): Step[] {
  const files = generatedFiles(root, module, modules);
  return [
    ...[...files].map(([path, content]): Step => ({ kind: 'write', path, content, why: 'generated service file' })),
    { kind: 'write', path: `extracted/${module}/${MANIFEST}`, content: manifestOf(module, files), why: 'what extract wrote, for absorb' },
  ];
}

/** The plan of `extract <module>`; the preconditions are checked by the caller. */
export function planExtract(root: string, module: string): Plan {
  const modules = modulesOf(root);
  const { dirs, files } = fileMoves(root, module, 'out');
  const extracted = extractedModules(root, modules);
  extracted.add(module);
  const port = serviceSpec(root, module, modules).port;
  const steps: Step[] = [
    ...dirs.map((d): Step => ({ kind: 'move', from: d.from, to: d.to })),
    ...importRewrites(root, files, new Set([COMPOSITION_FILE])),
    ...generatedSteps(root, module, modules),
    ...compositionEdit(root, modules, extracted, `the monolith no longer holds ${module}'s code: its contract only`),
    topologyEdit(root, (f) => (f.modules[module] = { location: 'remote', url: `http://127.0.0.1:${port}`, extracted: true }), `${module} marked extracted, served at http://127.0.0.1:${port}`),
    { kind: 'lockfile', why: `package-lock.json learns the workspace extracted/${module}` },
  ];
  return { command: 'extract', module, steps };
}

/** The plan of `absorb <module>`: extract's steps the other way. */
export function planAbsorb(root: string, module: string): Plan {
  const modules = modulesOf(root);
  const generated = writtenFiles(root, module).map((f) => f.path);
  const { dirs, files } = fileMoves(root, module, 'in');
  const extracted = extractedModules(root, modules);
  extracted.delete(module);
  const steps: Step[] = [
    ...generated.map((path): Step => ({ kind: 'delete', path, content: readFileSync(join(root, path), 'utf8'), why: 'written by extract' })),
    ...dirs.map((d): Step => ({ kind: 'move', from: d.from, to: d.to })),
    // The service's entry goes with the service: it is deleted above, not rewritten.
    ...importRewrites(root, files, new Set([COMPOSITION_FILE, ...generated])),
    ...compositionEdit(root, modules, extracted, `the monolith holds ${module}'s code again`),
    topologyEdit(root, (f) => (f.modules[module] = { location: 'local' }), `${module} runs in the monolith again`),
    { kind: 'lockfile', why: `package-lock.json forgets the workspace extracted/${module}` },
  ];
  return { command: 'absorb', module, steps };
}

/** One line per step, for the plan and for the progress. */
export function describe(step: Step): string {
  switch (step.kind) {
    case 'move':
      return `git mv ${step.from} ${step.to}`;
    case 'write':
      return `write  ${step.path} (${step.why})`;
    case 'edit':
      return `edit   ${step.path} (${step.why})`;
    case 'delete':
      return `delete ${step.path} (${step.why})`;
    case 'lockfile':
      return `npm install --package-lock-only (${step.why})`;
  }
}

function removeEmptyDirs(root: string, from: string, stopAt: string): void {
  let dir = dirname(join(root, from));
  const stop = join(root, stopAt);
  while (dir.startsWith(stop) && dir !== root && existsSync(dir) && readdirSync(dir).length === 0) {
    rmdirSync(dir);
    if (dir === stop) break;
    dir = dirname(dir);
  }
}

function updateLockfile(root: string): void {
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Carries out a plan step by step, printing each; if a step fails, the steps
 * done so far are undone in reverse order, so the tree is as it was before
 * (never half extracted), and the error is thrown again.
 */
export function execute(root: string, plan: Plan, log: (line: string) => void): void {
  const done: { step: Step; undo: () => void }[] = [];
  const lockBefore = readFileSync(join(root, 'package-lock.json'), 'utf8');
  try {
    for (const step of plan.steps) {
      log(`  ${describe(step)}`);
      done.push({ step, undo: run(root, step, lockBefore) });
    }
  } catch (error) {
    log(`✖ ${(error as Error).message.split('\n')[0]}: undoing the ${done.length} step(s) done`);
    for (const { undo } of done.reverse()) undo();
    throw error;
  }
}

function run(root: string, step: Step, lockBefore: string): () => void {
  const abs = (p: string) => join(root, p);
  switch (step.kind) {
    case 'move': {
      mkdirSync(dirname(abs(step.to)), { recursive: true });
      git(root, ['mv', step.from, step.to]);
      return () => {
        mkdirSync(dirname(abs(step.from)), { recursive: true });
        git(root, ['mv', step.to, step.from]);
        removeEmptyDirs(root, step.to, 'extracted');
      };
    }
    case 'write': {
      mkdirSync(dirname(abs(step.path)), { recursive: true });
      writeFileSync(abs(step.path), step.content, { flag: 'wx' });
      return () => {
        rmSync(abs(step.path), { force: true });
        removeEmptyDirs(root, step.path, 'extracted');
      };
    }
    case 'edit': {
      writeFileSync(abs(step.path), step.after);
      return () => writeFileSync(abs(step.path), step.before);
    }
    case 'delete': {
      rmSync(abs(step.path));
      removeEmptyDirs(root, step.path, 'extracted');
      return () => {
        mkdirSync(dirname(abs(step.path)), { recursive: true });
        writeFileSync(abs(step.path), step.content);
      };
    }
    case 'lockfile': {
      updateLockfile(root);
      return () => writeFileSync(abs('package-lock.json'), lockBefore);
    }
  }
}
