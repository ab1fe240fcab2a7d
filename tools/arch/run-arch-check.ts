import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cruise, getAvailableTranspilers, type ICruiseOptions, type IReporterOutput } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { createConfig, readModuleManifests } from '../../.dependency-cruiser.js';
import { applyKnownViolations, readKnownViolations, type KnownViolation } from './known-violations.js';
import { checkManifests } from './module-manifests.js';

/** The folders the rules look at, where they exist. */
export const CRUISED_FOLDERS = ['src', 'extracted', 'test', 'tools', 'bench'];

export interface ArchViolation {
  rule: string;
  from: string;
  to: string;
  /** What to do instead: the rule's comment. */
  hint: string;
}

export interface ArchReport {
  /** Violations not in the known-violations file: each one fails the check. */
  violations: ArchViolation[];
  /** Violations the known-violations file tolerates. */
  tolerated: ArchViolation[];
  /** Known-violation entries that match nothing any more: they fail the check too. */
  stale: KnownViolation[];
  modulesCruised: number;
  ok: boolean;
}

export interface ArchCheckOptions {
  root: string;
  /** Test hook: read the sources with the JavaScript parser, as dependency-cruiser does without a usable TypeScript. */
  simulateJavaScriptFallback?: boolean;
}

/** Thrown when the cruise cannot be trusted (TypeScript not parsed as TypeScript). */
export class ArchCheckError extends Error {
  override readonly name = 'ArchCheckError';
}

function assertTypeScriptAvailable(): void {
  const ts = getAvailableTranspilers().find((t) => t.name === 'typescript');
  if (!ts?.available) {
    throw new ArchCheckError(
      `dependency-cruiser cannot use the TypeScript compiler (supported ${ts?.version ?? '?'}): ` +
        'it would parse .ts files as JavaScript and miss their imports. Install a supported typescript (npm ci).',
    );
  }
}

const RELATIVE_SPECIFIER = /(?:^|[\s;])(?:import|export)\s[^;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/**
 * Counts the relative imports in the .ts sources with a plain scan and
 * compares them with what the cruise resolved. A JavaScript parser drops
 * type-only imports and chokes on TypeScript syntax, so a cruise that saw
 * fewer imports than the sources hold was not a TypeScript cruise and must
 * not pass quietly.
 */
function assertTypeScriptParsed(root: string, output: IReporterOutput): void {
  const result = output.output as Exclude<IReporterOutput['output'], string>;
  let written = 0;
  let seen = 0;
  let example = '';
  for (const module of result.modules.filter((m) => m.source.endsWith('.ts') && !m.source.startsWith('..') && !m.source.includes('node_modules/'))) {
    const source = readFileSync(join(root, module.source), 'utf8');
    const specifiers = new Set([...source.matchAll(RELATIVE_SPECIFIER)].map((m) => m[1] ?? m[2]));
    // Unresolvable imports count as seen: the parser found them, and the imports-resolve rule reports them.
    const resolved = new Set(module.dependencies.filter((d) => d.module.startsWith('.')).map((d) => d.module));
    written += specifiers.size;
    const found = [...specifiers].filter((s) => resolved.has(s!)).length;
    seen += found;
    if (!example && found < specifiers.size) example = module.source;
  }
  if (seen < written) {
    throw new ArchCheckError(
      `the TypeScript sources were not parsed as TypeScript: the cruise saw ${seen} of the ${written} relative imports the .ts files hold (first gap: ${example}). ` +
        'Check that typescript is installed in a version dependency-cruiser supports (npx depcruise --info).',
    );
  }
}

/**
 * Runs the architecture rules on the project at `root`, with its module
 * manifests and known-violations file.
 *
 * @example
 * const report = await runArchCheck({ root: process.cwd() });
 * if (!report.ok) process.exitCode = 1;
 */
export async function runArchCheck(options: ArchCheckOptions): Promise<ArchReport> {
  const root = resolve(options.root);
  assertTypeScriptAvailable();
  const config = createConfig(root);
  const hints = new Map(config.forbidden.map((rule) => [rule.name, rule.comment]));
  const folders = CRUISED_FOLDERS.filter((f) => existsSync(join(root, f)));
  const tsConfigFile = join(root, 'tsconfig.json');
  const cruiseOptions: ICruiseOptions = {
    ...(config.options as ICruiseOptions),
    ruleSet: { forbidden: config.forbidden } as ICruiseOptions['ruleSet'],
    validate: true,
    baseDir: root,
    // A forced parser bypasses the cache: a cached cruise would hide what that parser makes of the sources.
    ...(options.simulateJavaScriptFallback
      ? { parser: 'acorn', tsPreCompilationDeps: false, cache: false }
      : { cache: { folder: join(root, 'node_modules/.cache/dependency-cruiser'), strategy: 'content', compress: false } }),
  };
  const output = await cruise(folders, cruiseOptions, { bustTheCache: false } as never, {
    tsConfig: existsSync(tsConfigFile) ? extractTSConfig(tsConfigFile) : undefined,
  } as never);
  assertTypeScriptParsed(root, output);
  const result = output.output as Exclude<IReporterOutput['output'], string>;

  const cruised: ArchViolation[] = result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to, hint: hints.get(v.rule.name) ?? '' }));
  const manifests: ArchViolation[] = checkManifests(readModuleManifests(root)).map((p) => ({
    rule: p.rule,
    from: `src/modules/${p.from}/module.json`,
    to: `src/modules/${p.to}`,
    hint: `${p.message}: declared dependencies must form a graph without cycles, of existing modules`,
  }));
  const { fresh, tolerated, stale } = applyKnownViolations([...cruised, ...manifests], readKnownViolations(root));
  return { violations: fresh, tolerated, stale, modulesCruised: result.summary.totalCruised, ok: fresh.length === 0 && stale.length === 0 };
}
