import { camel } from './composition.js';

/** What the generated service needs to know about its module and the system around it. */
export interface ServiceSpec {
  module: string;
  /** The other modules of the system (their contracts stay in src/modules/<m>/index.ts). */
  others: string[];
  /** The service's default port (also its URL in topology.json). */
  port: number;
  /** The monolith's default URL, where the other modules run unless SERVICE_URL_<MODULE> says otherwise. */
  monolithUrl: string;
  /** The root package's name, to name the workspace. */
  rootName: string;
}

/** An import line of generated code (built, so that the architecture check's import count does not take it for one of this file's). */
const importLine = (names: string, path: string) => `import { ${names} } from '${path}';`;

const envName = (module: string) => `SERVICE_URL_${module.toUpperCase().replace(/-/g, '_')}`;

/** The service's package.json: an npm workspace of the root, so `npm start -w extracted/<m>` runs it. */
export function servicePackageJson(spec: ServiceSpec): string {
  const pkg = {
    name: `${spec.rootName}-${spec.module}`,
    version: '0.1.0',
    private: true,
    description: `The ${spec.module} module of the shop as a service of its own (written by npm run extract).`,
    type: 'module',
    scripts: {
      start: 'node --import tsx src/main.ts',
      build: 'node build.mjs',
      'start:prod': 'node dist/main.js',
      events: 'node --import tsx src/events.ts',
    },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/** The service's default settings, under the environment: the same in its entry and its events commands. */
function serviceDefaults(spec: ServiceSpec): string {
  const others = [...spec.others].sort();
  return [`MODULES: '${spec.module}'`, `PORT: '${spec.port}'`, ...others.map((o) => `${envName(o)}: '${spec.monolithUrl}'`)].join(', ');
}

/** The service's entry: the kit's kernel running this one module, with every other module's contract. */
export function serviceMain(spec: ServiceSpec): string {
  const name = camel(spec.module);
  const others = [...spec.others].sort();
  return `// The ${spec.module} service: written by \`npm run extract -- ${spec.module}\`; \`npm run absorb -- ${spec.module}\` folds it back.
// Run it with \`npm start -w extracted/${spec.module}\` (or \`npm run build -w extracted/${spec.module}\`, then \`node dist/main.js\` there).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
${importLine('createApp, exitOnStartupFailure, installShutdown, loadConfig', '../../../src/kernel/index.js')}
${others.map((o) => importLine(`${camel(o)}Contract`, `../../../src/modules/${o}/index.js`)).join('\n')}
${importLine(`${name}Module`, './module.js')}

/** This service runs ${spec.module}; the other modules run in the monolith on this machine unless the environment says otherwise. */
const DEFAULTS: Record<string, string> = { ${serviceDefaults(spec)} };

async function main(): Promise<void> {
  // src/main.ts under tsx, dist/main.js once built: the service's folder is the parent of either.
  const here = dirname(fileURLToPath(import.meta.url));
  const rootDir = join(here, '..');
  const built = !existsSync(join(here, 'module.ts'));
  const config = loadConfig({ ...DEFAULTS, ...process.env });
  const app = await createApp({
    modules: [{ ...${name}Module, migrationsDir: built ? join(here, 'migrations', '${spec.module}') : join(rootDir, 'migrations', '${spec.module}') }],
    contracts: [${others.map((o) => `${camel(o)}Contract`).join(', ')}],
    config,
    rootDir,
    topologyFile: '../../topology.json',
  });
  installShutdown(app, { graceMs: config.shutdownGraceMs });
  const { port } = await app.start();
  app.logger.info(\`${spec.module} service listening on http://localhost:\${port}\`);
}

// One line on stderr for a bad setting, an unreachable server or a port in use; the whole error for a bug.
main().catch(exitOnStartupFailure);
`;
}

/**
 * The service's events commands (`npm run events -w extracted/<m> -- <command>`): the kernel's
 * events CLI over this module, in the service's database, with the service's defaults.
 */
export function serviceEvents(spec: ServiceSpec): string {
  const name = camel(spec.module);
  const others = [...spec.others].sort();
  return `// The events commands of the ${spec.module} service (dead letters, outbox backlog, republish; docs/operations.md):
// written by \`npm run extract -- ${spec.module}\`; \`npm run absorb -- ${spec.module}\` removes it. Run them with the service's
// settings: \`npm run events -w extracted/${spec.module} -- <command>\` (or \`node dist/events.js <command>\` here once built).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
${importLine('runEventsCli', '../../../src/kernel/index.js')}
${others.map((o) => importLine(`${camel(o)}Contract`, `../../../src/modules/${o}/index.js`)).join('\n')}
${importLine(`${name}Module`, './module.js')}

/** The service's defaults, as src/main.ts has them: its outbox and dead letters are in the database of the process that runs ${spec.module}. */
const DEFAULTS: Record<string, string> = { ${serviceDefaults(spec)} };

// src/events.ts under tsx, dist/events.js once built: the service's folder is the parent of either.
const rootDir = join(dirname(fileURLToPath(import.meta.url)), '..');
runEventsCli({
  argv: process.argv,
  modules: [${name}Module],
  contracts: [${others.map((o) => `${camel(o)}Contract`).join(', ')}],
  defaults: DEFAULTS,
  rootDir,
  topologyFile: '../../topology.json',
}).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
`;
}

/** The production build: esbuild bundles the service's code (npm packages stay external) and its migrations to plain JavaScript. */
export function serviceBuild(spec: ServiceSpec): string {
  return `// Production build of the ${spec.module} service (written by npm run extract): plain JavaScript in dist/, run with \`node dist/main.js\` (its events commands: \`node dist/events.js <command>\`).
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
const common = { bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'info' };
await build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/main.js' });
await build({ ...common, entryPoints: ['src/events.ts'], outfile: 'dist/events.js' });
const migrations = readdirSync('migrations/${spec.module}').filter((f) => f.endsWith('.ts')).map((f) => \`migrations/${spec.module}/\${f}\`);
await build({ ...common, entryPoints: migrations, outdir: 'dist/migrations/${spec.module}' });
`;
}

/** The service's README: how to run it, its settings, and the contracts it uses. */
export function serviceReadme(spec: ServiceSpec & { dependsOn: string[] }): string {
  const others = [...spec.others].sort();
  const rows = [
    ['`PORT`', `\`${spec.port}\``, 'HTTP port of the service (also its URL in topology.json)'],
    ['`MODULES`', `\`${spec.module}\``, 'the module this process runs'],
    ['`DATABASE_URL`', 'unset: embedded PGlite under `.data/`', 'PostgreSQL of the service: its own database once `npm run move-data` moved the module\'s data there'],
    ['`EVENT_BUS`', '`memory` (must be set)', '`bullmq`: events cross processes only on BullMQ'],
    ['`REDIS_URL`', '`redis://127.0.0.1:6379`', 'the Redis the monolith uses too'],
    ['`SERVICE_TOKEN_SECRET`', 'unset (must be set)', 'the same secret of at least 32 characters in every process'],
    ...others.map((o) => [`\`${envName(o)}\``, `\`${spec.monolithUrl}\``, `where ${o} runs (the monolith by default)`]),
    ['`REMOTE_TIMEOUT_MS`', '`2000`', 'time limit of one remote API call'],
    ['`LOG_LEVEL`', '`info`', 'pino level'],
    ['`OTEL_EXPORTER_OTLP_ENDPOINT`', 'unset: no tracing', 'OpenTelemetry collector (OTLP over HTTP) the service exports its spans to; with the monolith exporting to it too, one request is one trace through both'],
    ['`OTEL_SERVICE_NAME`', `\`${spec.module}\``, 'the service name of its spans'],
  ];
  const calls = spec.dependsOn.length === 0 ? 'none: it calls no other module\'s API' : spec.dependsOn.map((d) => `\`${d}\` (src/modules/${d}/index.ts)`).join(', ');
  return `# The ${spec.module} service

Written by \`npm run extract -- ${spec.module}\`: the ${spec.module} module of the shop, running as a
service of its own. Its code is here (\`src/module.ts\`, \`src/internal/\`, \`migrations/${spec.module}/\`);
its contract stays in \`src/modules/${spec.module}/\`, where the monolith and the other modules import it.
\`npm run absorb -- ${spec.module}\` folds it back into the monolith.

## Run it

\`\`\`sh
EVENT_BUS=bullmq SERVICE_TOKEN_SECRET=<same secret everywhere> npm start -w extracted/${spec.module}
\`\`\`

Production-like: \`npm run build -w extracted/${spec.module}\` bundles it to plain JavaScript in
\`dist/\`; run it with \`node dist/main.js\` in this folder. The \`Dockerfile\` (build it from the
repository root: \`docker build -f extracted/${spec.module}/Dockerfile .\`) and the Kubernetes manifests in
\`k8s/\` (Deployment with probes on \`/health\`, Service, ConfigMap; \`DATABASE_URL\` and
\`SERVICE_TOKEN_SECRET\` come from the Secret \`${spec.module}-secrets\`) do the same.

## Its events: dead letters, outbox backlog, republish

The module's outbox, inbox and dead letters are in the service's database, so the
events commands of [docs/operations.md](../../docs/operations.md) run here, with the
service's settings (its \`DATABASE_URL\`, \`EVENT_BUS\`, \`REDIS_URL\`, \`SERVICE_TOKEN_SECRET\`):

\`\`\`sh
npm run events -w extracted/${spec.module} -- backlog
npm run events -w extracted/${spec.module} -- list
npm run events -w extracted/${spec.module} -- replay <id>
npm run events -w extracted/${spec.module} -- republish --since 15m
\`\`\`

Built: \`node dist/events.js <command>\` in this folder (in the container too). From the repository
root, \`npm run events\` covers the monolith's modules only, and refuses \`--module ${spec.module}\` with this command.

## Settings

| name | default here | meaning |
| --- | --- | --- |
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}

## Contracts it uses

- Its own: \`src/modules/${spec.module}/index.ts\` (API, events, the events it consumes).
- The APIs it calls: ${calls}.
- Every other module's contract (${others.join(', ')}), to route events to their consumers wherever they run.
`;
}
