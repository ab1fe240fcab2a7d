// The architecture rules of the kit. `npm run arch:check` runs them (and CI does).
// Every rule has a name, a one-line reason, and a message that says what to do instead.
// The per-module dependency rules are generated from src/modules/<m>/module.json.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const DRIVERS = ['pg', 'pg-pool', 'pg-protocol', 'knex', 'knex-pglite', 'bullmq', 'ioredis', '@electric-sql/pglite'];
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\/@-]/g, '\\$&');

/** Reads every module's declared dependencies: `{ catalog: [], orders: ['catalog'] }`. */
export function readModuleManifests(root = process.cwd()) {
  const dir = join(root, 'src', 'modules');
  if (!existsSync(dir)) return {};
  const manifests = {};
  for (const name of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const file = join(dir, name, 'module.json');
    manifests[name] = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')).dependsOn ?? []) : [];
  }
  return manifests;
}

/** One rule per module: it may import the modules its manifest lists, and no other. */
export function declaredDependencyRules(manifests) {
  return Object.entries(manifests).map(([name, dependsOn]) => ({
    name: `module-${name}-declared-dependencies`,
    comment:
      `${name} may import only ${dependsOn.length ? dependsOn.join(', ') : 'no other module'} (src/modules/${name}/module.json). ` +
      'Add the module to its "dependsOn" if the dependency is intended, or talk through an event instead.',
    severity: 'error',
    // Its code wherever it lives (src/modules or, once extracted, extracted/); the service's entries (main.ts and the
    // events commands' events.ts), composition roots that name every contract for the event routing, excepted.
    from: { path: `^(src/modules|extracted)/${escape(name)}/`, pathNot: `^extracted/${escape(name)}/src/(main|events)\\.ts$` },
    to: { path: '^src/modules/', pathNot: `^src/modules/(${[name, ...dependsOn].map(escape).join('|')})/` },
  }));
}

/** The whole rule set for the project rooted at `root`. */
export function createConfig(root = process.cwd()) {
  return {
    forbidden: [
      {
        name: 'module-internals-are-private',
        comment: "A module's internals change without notice: import the other module's index.ts (its contract) instead.",
        severity: 'error',
        from: { path: '^src/modules/([^/]+)/' },
        to: { path: '^src/modules/[^/]+/', pathNot: ['^src/modules/$1/', '^src/modules/[^/]+/index\\.ts$'] },
      },
      {
        name: 'outside-code-uses-module-entry-points',
        comment:
          "Code outside a module sees only its entry points: index.ts (its contract) and module.ts (its implementation, for the composition root, tests and an extracted service). Import one of those instead of its files.",
        severity: 'error',
        from: { pathNot: '^(src/modules|extracted)/' },
        to: { path: '^src/modules/[^/]+/', pathNot: '^src/modules/[^/]+/(index|module)\\.ts$' },
      },
      {
        name: 'extracted-code-sees-contracts-only',
        comment:
          "An extracted service holds its module's code; of src/modules it may import its own contract half (index.ts, <module>.contract.ts, module.json) and other modules' index.ts, never code that runs in another process.",
        severity: 'error',
        from: { path: '^extracted/([^/]+)/' },
        to: { path: '^src/modules/', pathNot: ['^src/modules/$1/(index\\.ts|[^/]+\\.contract\\.ts|module\\.json)$', '^src/modules/[^/]+/index\\.ts$'] },
      },
      {
        name: 'service-entry-reaches-no-other-implementation',
        comment:
          "What an extracted service's entries (main.ts, events.ts) reach is what it deploys: the kernel, its own module and the contracts it uses. Reaching another module's implementation would run that module twice: use its contract (index.ts) instead.",
        severity: 'error',
        from: { path: '^extracted/([^/]+)/src/(main|events)\\.ts$' },
        to: { path: '^(src/modules/[^/]+/(module\\.ts|internal/)|extracted/)', pathNot: '^extracted/$1/', reachable: true },
      },
      {
        name: 'no-circular',
        comment: 'Cycles (type-only imports included) tie modules together so none can be extracted: break the cycle with an event or by moving the shared type to its owner.',
        severity: 'error',
        from: { path: '^(src|extracted)/' },
        to: { circular: true },
      },
      {
        name: 'kernel-knows-no-module',
        comment: 'The kernel must work for any set of modules: take what you need as a parameter from the composition root instead of importing a module.',
        severity: 'error',
        from: { path: '^src/kernel/' },
        to: { path: '^(src/modules|extracted)/' },
      },
      {
        name: 'modules-use-kernel-entry-point',
        comment: "Modules see the kernel's public surface only: import from src/kernel/index.ts (export what is missing there, with JSDoc).",
        severity: 'error',
        from: { path: '^(src/modules|extracted)/' },
        to: { path: '^src/kernel/', pathNot: '^src/kernel/index\\.ts$' },
      },
      {
        name: 'modules-use-no-drivers',
        comment: "Modules get the kernel's scoped handles (ctx.db, ctx.events) and the kernel's types: never import a database or queue driver.",
        severity: 'error',
        // A module's code, in src/modules or moved to extracted/<m>/src; its migrations take knex's types, wherever they are.
        from: { path: '^(src/modules|extracted/[^/]+/src)/' },
        to: { path: `(^|/)node_modules/(${DRIVERS.map(escape).join('|')})/` },
      },
      {
        name: 'tracing-sdk-loaded-on-demand',
        comment: "A process without OTEL_EXPORTER_OTLP_ENDPOINT must not load the OpenTelemetry SDK: only src/kernel/tracing/otel-tracing.ts imports @opentelemetry/*, and only with await import('./otel-tracing.js') (startTracing).",
        severity: 'error',
        from: { path: '^(src|extracted)/', pathNot: '^src/kernel/tracing/otel-tracing\\.ts$' },
        to: { path: '((^|/)node_modules/@opentelemetry/|^src/kernel/tracing/otel-tracing\\.ts$)', dependencyTypesNot: ['dynamic-import'] },
      },
      {
        name: 'src-never-imports-extracted',
        comment: 'An extracted service is deployed apart: the monolith reaches it through its contract (src/modules/<m>/index.ts), never its code.',
        severity: 'error',
        from: { path: '^src/' },
        to: { path: '^extracted/' },
      },
      {
        name: 'extracted-services-stay-apart',
        comment: "Extracted services are deployed separately: talk to another one through its contract and the kernel's remote binding, not its code.",
        severity: 'error',
        from: { path: '^extracted/([^/]+)/' },
        to: { path: '^extracted/', pathNot: '^extracted/$1/' },
      },
      {
        name: 'imports-resolve',
        comment: 'An import that does not resolve hides a dependency from every other rule: fix the path (relative imports end in .js).',
        severity: 'error',
        from: { path: '^(src|extracted|test|tools)/' },
        to: { couldNotResolve: true },
      },
      ...declaredDependencyRules(readModuleManifests(root)),
    ],
    options: {
      doNotFollow: { path: 'node_modules' },
      exclude: { path: '(^|/)(\\.data|coverage|test/arch/fixtures)/' },
      tsPreCompilationDeps: true,
      tsConfig: { fileName: 'tsconfig.json' },
      // Only what the rules need: few extensions to probe, no analysis no rule uses.
      skipAnalysisNotInRules: true,
      enhancedResolveOptions: {
        extensions: ['.ts', '.js', '.json'],
        exportsFields: ['exports'],
        conditionNames: ['import', 'require', 'node', 'default', 'types'],
        mainFields: ['module', 'main', 'types'],
      },
      cache: { folder: 'node_modules/.cache/dependency-cruiser', strategy: 'content' },
    },
  };
}

export default createConfig();
