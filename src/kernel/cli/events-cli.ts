import { CommanderError } from 'commander';
import { createApp, type App } from '../app/create-app.js';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import { createLogger } from '../logging/logger.js';
import type { ModuleContract } from '../module/contract.js';
import type { ModuleDefinition } from '../module/define-module.js';
import { headline, UsageError } from './cli-output.js';
import { buildProgram } from './events-commands.js';
import { EventsScope } from './events-scope.js';

export interface EventsCliOptions {
  /** The process's arguments (`process.argv`: node, the script, then the command). */
  argv: readonly string[];
  /** The modules whose code this codebase holds, as the composition root lists them. */
  modules: readonly ModuleDefinition<any>[];
  /** The contracts of the system's other modules (code elsewhere), as `createApp` takes them. */
  contracts?: readonly ModuleContract<any>[];
  /** The app's topology file, relative to `rootDir` (`createApp({ topologyFile })`). */
  topologyFile?: string;
  /** Where the topology file and `migrations/` are; the working directory by default. */
  rootDir?: string;
  /** Settings the environment overrides: an extracted service's `MODULES`, `SERVICE_URL_<MODULE>`… as its entry has them. */
  defaults?: Readonly<Record<string, string>>;
  /** The environment; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
}

/**
 * `npm run events -- <command>`: the operator's view of dead letters and outbox
 * backlogs (docs/operations.md) for the modules of one codebase, the monolith's
 * or an extracted service's. Prints its report on stdout, one line on stderr
 * for a mistake, and resolves to the exit code.
 *
 * @example
 * runEventsCli({ argv: process.argv, modules: SHOP_MODULES, contracts: SHOP_EXTRACTED, topologyFile: 'topology.json' }).then((code) => process.exit(code));
 */
export async function runEventsCli(options: EventsCliOptions): Promise<number> {
  const env = options.env ?? process.env;
  const rootDir = options.rootDir ?? process.cwd();
  const settings = () => loadConfig({ LOG_LEVEL: 'error', ...options.defaults, ...env });
  const scope = EventsScope.of({
    modules: options.modules.map((m) => m.name),
    elsewhere: (options.contracts ?? []).map((c) => c.name),
    commandLine: options.argv.slice(2),
    config: settings,
    rootDir,
    ...(options.topologyFile !== undefined ? { topologyFile: options.topologyFile } : {}),
  });
  const state = { exitCode: 0 };

  /** The app `npm start` builds, minus HTTP and relays. Logs go to stderr so stdout stays the report; only errors by default. */
  async function withApp(fn: (app: App) => Promise<void>, config: Config = settings()): Promise<void> {
    const app = await createApp({
      modules: options.modules,
      contracts: options.contracts ?? [],
      config,
      rootDir,
      ...(options.topologyFile !== undefined ? { topologyFile: options.topologyFile } : {}),
      logger: createLogger(config.logLevel, process.stderr),
    });
    try {
      await fn(app);
    } finally {
      await app.stop();
    }
  }

  const program = buildProgram({ scope, withApp, settings, state });
  try {
    await program.parseAsync([...options.argv]);
    return state.exitCode;
  } catch (error) {
    // Commander already printed its own refusals (unknown command or option, a missing value) and the help.
    if (error instanceof CommanderError) return error.exitCode;
    console.error(describeError(error));
    return error instanceof UsageError ? error.exitCode : 1;
  }
}

/** One line for what the operator can fix (input, settings, an unmigrated or unreachable database); the full error for a bug. */
function describeError(error: unknown): unknown {
  if (error instanceof UsageError) return `events: ${error.message}`;
  if (error instanceof ConfigError || (error instanceof AppError && error.kind !== 'INTERNAL')) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return error;
  const reason = headline(String((error as Error).message ?? '')) || code;
  if (/^E[A-Z]+$/.test(code)) return `events: cannot reach the database (${reason})`;
  if (['42P01', '3F000', '42704'].includes(code)) return `events: the database is not migrated (${reason}); run npm run migrate first`;
  return `events: database error: ${reason}`;
}
