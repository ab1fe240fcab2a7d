import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, isServiceUrl, type Config } from '../config/config.js';
import type { ModuleContract } from '../module/contract.js';

/** The committed default of one module's place; the environment overrides it. */
const FileEntry = z.strictObject({
  location: z.enum(['local', 'remote']).optional(),
  url: z.string().optional(),
  extracted: z.boolean().optional(),
});

const TopologyFileSchema = z.strictObject({
  $comment: z.string().optional(),
  modules: z.record(z.string(), FileEntry),
});

/** The committed topology file (`topology.json`): where each module runs unless the environment says otherwise. */
export type TopologyFile = z.infer<typeof TopologyFileSchema>;

export const DEFAULT_TOPOLOGY_FILE = 'topology.json';

/** Where one module runs, seen from this process. */
export type Placement = { name: string; location: 'local' } | { name: string; location: 'remote'; url: string };

/** The resolved topology of this process: every module of the system, local or remote. */
export interface Topology {
  readonly placements: readonly Placement[];
  readonly local: readonly string[];
  /** Base URL of each module that runs elsewhere. */
  readonly remote: ReadonlyMap<string, string>;
}

/**
 * Reads the topology file: the one `TOPOLOGY_FILE` names, else the app's
 * own (`createApp({ topologyFile })`). No file at all means every module
 * runs here; a named file must exist.
 */
export function readTopologyFile(rootDir: string, configured: string | undefined, appDefault: string | undefined): { file: TopologyFile | undefined; path: string } {
  const named = configured ?? appDefault;
  if (named === undefined) return { file: undefined, path: '' };
  const path = resolve(rootDir, named);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    // Name what to fix: the setting when it named the file, else the app's committed file.
    const where = configured !== undefined ? 'Invalid setting TOPOLOGY_FILE' : 'Invalid topology file';
    throw new ConfigError(`${where}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); restore the file, or set TOPOLOGY_FILE to one that exists`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`Invalid topology file ${path}: not JSON (${(error as Error).message})`);
  }
  const parsed = TopologyFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`Invalid topology file ${path}: ${issue.path.join('.') || 'top level'}: ${issue.message}`);
  }
  return { file: parsed.data, path };
}

const envName = (module: string) => `SERVICE_URL_${module.toUpperCase()}`;

/**
 * Decides which modules run in this process and where the others are, from
 * the committed file and the settings (`MODULES`, `SERVICE_URL_<MODULE>`).
 * Every problem is a ConfigError naming the setting to fix.
 *
 * @example
 * const topology = resolveTopology({ contracts, implemented: new Set(['catalog']), config });
 */
export function resolveTopology(options: {
  contracts: readonly ModuleContract[];
  /** Modules whose implementation this codebase holds (the others can only be remote). */
  implemented: ReadonlySet<string>;
  config: Pick<Config, 'modules' | 'serviceUrls' | 'serviceTokenSecret' | 'eventBus'>;
  file?: TopologyFile;
  filePath?: string;
}): Topology {
  const { contracts, implemented, config, file } = options;
  const known = contracts.map((c) => c.name);
  const list = known.join(', ');
  const filePath = options.filePath ?? DEFAULT_TOPOLOGY_FILE;
  for (const [name, entry] of Object.entries(file?.modules ?? {})) {
    if (!known.includes(name)) throw new ConfigError(`Invalid topology file ${filePath}: unknown module "${name}" (modules: ${list})`);
    if (entry.url !== undefined && !isServiceUrl(entry.url)) {
      throw new ConfigError(`Invalid topology file ${filePath}: modules.${name}.url: expected an http:// or https:// base URL without path, query, fragment or credentials (got ${JSON.stringify(entry.url)})`);
    }
  }
  for (const name of config.modules ?? []) {
    if (!known.includes(name)) throw new ConfigError(`Invalid setting MODULES: unknown module "${name}" (modules: ${list})`);
    if (!implemented.has(name)) {
      throw new ConfigError(`Invalid setting MODULES: the code of ${name} is not in this codebase (it was extracted); run it as its own service and set ${envName(name)}`);
    }
  }
  for (const name of Object.keys(config.serviceUrls)) {
    if (!known.includes(name)) throw new ConfigError(`Invalid setting ${envName(name)}: there is no module "${name}" (modules: ${list})`);
  }
  const entryOf = (name: string) => file?.modules[name];
  const local = config.modules ?? known.filter((name) => implemented.has(name) && !entryOf(name)?.extracted && (entryOf(name)?.location ?? 'local') === 'local');
  const placements: Placement[] = contracts.map((contract): Placement => {
    const name = contract.name;
    if (local.includes(name)) return { name, location: 'local' };
    const url = config.serviceUrls[name] ?? entryOf(name)?.url;
    if (url === undefined) {
      const why = config.modules !== undefined ? 'it is not in MODULES' : !implemented.has(name) ? 'its code is not in this codebase' : `${filePath} does not run it here and gives no url`;
      throw new ConfigError(`Invalid setting ${config.modules !== undefined ? 'MODULES' : envName(name)}: module ${name} runs nowhere (${why}); add it to MODULES or set ${envName(name)} to the URL of the process that runs it`);
    }
    return { name, location: 'remote', url: url.replace(/\/+$/, '') };
  });
  const remote = new Map(placements.flatMap((p) => (p.location === 'remote' ? [[p.name, p.url] as const] : [])));
  if (remote.size > 0) {
    const names = [...remote.keys()].join(', ');
    if (config.eventBus === 'memory') {
      throw new ConfigError(`Invalid setting EVENT_BUS: ${names} run${remote.size === 1 ? 's' : ''} in another process and the memory bus does not cross processes; set EVENT_BUS=bullmq`);
    }
    if (config.serviceTokenSecret === undefined) {
      throw new ConfigError(`Invalid setting SERVICE_TOKEN_SECRET: required because ${names} run${remote.size === 1 ? 's' : ''} in another process; set the same random string of at least 32 characters in every process`);
    }
    for (const contract of contracts) {
      if (remote.has(contract.name) && contract.consumes === undefined) {
        throw new ConfigError(`Invalid setting MODULES: module ${contract.name} runs in another process, but it does not declare the events it consumes (add \`consumes\` to its contract, see defineContract)`);
      }
    }
  }
  return { placements, local: [...local], remote };
}
