import { relative } from 'node:path';
import { Command, CommanderError } from 'commander';
// The settings, the topology and the graph only: no database, bus or HTTP server is loaded (docs/topology.md).
import { ConfigError, isServiceUrl, loadConfig } from '../config/config.js';
import { HEALTH_PROBE_HEADER } from '../health/health.js';
import type { ModuleContract } from '../module/contract.js';
import { describeContracts } from '../module/describe-contracts.js';
import { readTopologyFile, resolveTopology } from '../topology/resolve-topology.js';
import { buildTopologyReport, renderTopologyMermaid, renderTopologyText, type HealthAnswer, type ReachState } from './topology-report.js';

export interface TopologyCliOptions {
  /** The process's arguments (`process.argv`: node, the script, then the options). */
  argv: readonly string[];
  /** Every module of the system, as contracts: those whose code is here and those extracted. */
  contracts: readonly ModuleContract[];
  /** The modules whose code this codebase holds (`createApp({ modules })`). */
  implemented: readonly string[];
  /** The app's topology file, relative to `rootDir` (`createApp({ topologyFile })`). */
  topologyFile?: string;
  /** Where the topology file is; the working directory by default. */
  rootDir?: string;
  /** Where a module's code is, for the CODE column; `src/modules/<m>` or `extracted/<m>` by default. */
  codeOf?: (module: string, implemented: boolean) => string;
  /** The environment; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
}

/** The running process may wait up to 2 s on a frozen service's probe (docs/topology.md): give it more. */
const PROCESS_TIMEOUT_MS = 5_000;
/** A service asked with the probe header answers for itself at once. */
const SERVICE_TIMEOUT_MS = 2_000;
const PROBE_HEADERS = { [HEALTH_PROBE_HEADER]: '1' };

/** One `GET <url>/health`, never throwing: what answered, or why nothing did. */
export async function askHealth(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<HealthAnswer> {
  try {
    const res = await fetch(`${url}/health`, { headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { state: res.status === 200 ? 'up' : 'down', httpStatus: res.status, body };
  } catch (error) {
    return { state: reachFailure(error) };
  }
}

function reachFailure(error: unknown): ReachState {
  const name = (error as Error).name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'no answer';
  const code = ((error as { cause?: { code?: string } }).cause ?? {}).code;
  return code === 'ECONNREFUSED' ? 'not running' : 'unreachable';
}

/**
 * `npm run topology [-- --url <url>] [--json | --mermaid]`: where each
 * module runs as this environment places it (the topology file, `MODULES`,
 * `SERVICE_URL_<MODULE>`, exactly as `npm start` decides), the breaker and
 * health that the process at `--url` reports, what each remote service's own
 * `/health` answers, and the module graph in Mermaid with one box per
 * process. Resolves to the exit code: 0 for a report (also when nothing
 * runs), 1 for a bad setting, 2 for a bad option.
 *
 * @example
 * runTopologyCli({ argv: process.argv, contracts, implemented: ['catalog', 'orders'], topologyFile: 'topology.json' }).then((code) => process.exit(code));
 */
export async function runTopologyCli(options: TopologyCliOptions): Promise<number> {
  const env = options.env ?? process.env;
  const rootDir = options.rootDir ?? process.cwd();
  const fail = (line: string) => process.stderr.write(`${line}\n`);
  const program = new Command('topology')
    .description('where each module runs, its breaker and health, and the module graph')
    .option('--url <url>', 'base URL of the running process to ask (default: http://127.0.0.1:<PORT>)')
    .option('--json', 'machine output: the report as JSON')
    .option('--mermaid', 'only the module graph, in Mermaid')
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({ writeErr: (text) => fail(`topology: ${text.trim().replace(/^error: /, '')}`) });
  try {
    program.parse([...options.argv]);
  } catch (error) {
    return error instanceof CommanderError && error.code === 'commander.helpDisplayed' ? 0 : 2;
  }
  const opts = program.opts<{ url?: string; json?: boolean; mermaid?: boolean }>();
  if (opts.json && opts.mermaid) return usage(fail, '--json and --mermaid exclude each other: choose one');
  if (opts.url !== undefined && !isServiceUrl(opts.url)) {
    return usage(fail, `--url "${opts.url}" is not an http:// or https:// base URL such as http://127.0.0.1:3000`);
  }

  let resolved;
  try {
    const config = loadConfig(env);
    const file = readTopologyFile(rootDir, config.topologyFile, options.topologyFile);
    const implemented = new Set(options.implemented);
    const topology = resolveTopology({ contracts: options.contracts, implemented, config, file: file.file, filePath: file.path });
    resolved = { config, file, implemented, topology };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    fail(error.message);
    return 1;
  }
  const { config, file, implemented, topology } = resolved;
  const processUrl = (opts.url ?? `http://127.0.0.1:${config.port || 3000}`).replace(/\/+$/, '');
  const remoteUrls = [...new Set(topology.remote.values())];
  const [processHealth, ...serviceAnswers] = await Promise.all([
    askHealth(processUrl, PROCESS_TIMEOUT_MS),
    ...remoteUrls.map((url) => askHealth(url, SERVICE_TIMEOUT_MS, PROBE_HEADERS)),
  ]);
  const codeOf = options.codeOf ?? ((m: string, here: boolean) => (here ? `src/modules/${m}` : `extracted/${m}`));
  const descriptions = describeContracts(options.contracts);
  const report = buildTopologyReport({
    placements: topology.placements,
    descriptions,
    extracted: new Set(options.contracts.map((c) => c.name).filter((m) => !implemented.has(m) || file.file?.modules[m]?.extracted === true)),
    codeOf: (m) => codeOf(m, implemented.has(m)),
    topologyFile: file.path === '' ? null : relative(rootDir, file.path) || file.path,
    settings: placementSettings(env),
    processUrl,
    processHealth: processHealth!,
    serviceHealth: new Map(remoteUrls.map((url, i) => [url, serviceAnswers[i]!])),
  });
  const out = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
  if (opts.json) out([JSON.stringify({ ...report, mermaid: renderTopologyMermaid(report, descriptions).join('\n') }, null, 2)]);
  else if (opts.mermaid) out(renderTopologyMermaid(report, descriptions));
  else out(renderTopologyText(report, descriptions));
  return 0;
}

function usage(fail: (line: string) => void, line: string): number {
  fail(`topology: ${line}`);
  return 2;
}

/** The settings that move modules: MODULES, TOPOLOGY_FILE and every SERVICE_URL_<MODULE>, as set (empty counts as unset). */
function placementSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = Object.keys(env).filter((k) => k === 'MODULES' || k === 'TOPOLOGY_FILE' || k.startsWith('SERVICE_URL_')).sort();
  return Object.fromEntries(names.flatMap((k) => (env[k] ? [[k, env[k]!] as const] : [])));
}
