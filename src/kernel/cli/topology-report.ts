import type { ModuleDescription } from '../module/describe-contracts.js';
import { moduleGraphEdges, moduleGraphMermaid, type ModuleGraphEdges, type ModuleGraphGroup } from '../module/module-graph.js';
import type { BreakerState } from '../remote/remote-module.js';
import type { Placement } from '../topology/resolve-topology.js';
import { tableLines } from './cli-output.js';

/**
 * What a `GET /health` got: `up` (200), `down` (any other answer), or no
 * answer at all: `not running` (connection refused), `no answer` (timeout),
 * `unreachable` (any other network error, e.g. an unknown host).
 */
export type ReachState = 'up' | 'down' | 'not running' | 'no answer' | 'unreachable';

export interface HealthAnswer {
  state: ReachState;
  /** The HTTP status, when there was an answer. */
  httpStatus?: number;
  /** The JSON body, when there was one. */
  body?: unknown;
}

/** One module's line of `npm run topology`. */
export interface TopologyModuleReport {
  name: string;
  location: 'local' | 'remote';
  /** Where it runs: the process's URL for a local module, its service's for a remote one. */
  url: string;
  /** Where its code is: `src/modules/<m>`, or `extracted/<m>` once extracted. */
  code: string;
  extracted: boolean;
  /** The process's breaker for a remote module, from its `/health`; null when the process did not answer or the module is local. */
  breaker: BreakerState | null;
  /** The module's status in the process's `/health` (for a remote one, its probe through the breaker); null without an answer. */
  status: 'up' | 'down' | null;
  /** A remote module: what its service's own `/health` answered the command. Null for a local module. */
  service: ReachState | null;
}

/** The machine form of `npm run topology` (`--json`, plus `mermaid`). */
export interface TopologyReport {
  /** The topology file, relative to the working directory; null when the app has none. */
  topologyFile: string | null;
  /** The settings that changed the placements: MODULES, TOPOLOGY_FILE, SERVICE_URL_<MODULE>. */
  settings: Record<string, string>;
  process: { url: string; state: ReachState; httpStatus: number | null; status: string | null };
  modules: TopologyModuleReport[];
  /** Where the running process disagrees with this environment's placements. */
  notes: string[];
  graph: ModuleGraphEdges;
}

interface ProcessHealthBody {
  status?: unknown;
  modules?: Record<string, { status?: unknown; location?: unknown; url?: unknown; breaker?: unknown }>;
}

/**
 * Puts together what `npm run topology` prints: the placements as the app
 * computes them, what the process at `processUrl` and each remote service
 * said about themselves, and the module graph.
 *
 * @example
 * const report = buildTopologyReport({ placements, descriptions, extracted: new Set(), codeOf: (m) => `src/modules/${m}`, topologyFile: 'topology.json', settings: {}, processUrl, processHealth, serviceHealth: new Map() });
 */
export function buildTopologyReport(input: {
  placements: readonly Placement[];
  descriptions: readonly ModuleDescription[];
  /** Modules marked extracted in the topology file or whose code is not here. */
  extracted: ReadonlySet<string>;
  codeOf: (module: string) => string;
  topologyFile: string | null;
  settings: Record<string, string>;
  processUrl: string;
  processHealth: HealthAnswer;
  /** The answer of each remote service's `/health`, by its base URL. */
  serviceHealth: ReadonlyMap<string, HealthAnswer>;
}): TopologyReport {
  const { processHealth, processUrl } = input;
  const body = (processHealth.body ?? {}) as ProcessHealthBody;
  const seen = processHealth.httpStatus !== undefined && typeof body.modules === 'object' && body.modules !== null ? body.modules : undefined;
  const notes: string[] = [];
  if (processHealth.httpStatus !== undefined && seen === undefined) notes.push(`${processUrl}/health answered without the kit's module list: is --url the address of a process of this app?`);
  const modules = input.placements.map((placement): TopologyModuleReport => {
    const live = seen?.[placement.name];
    if (seen !== undefined && live === undefined) notes.push(`the process at ${processUrl} does not report ${placement.name}: it runs another app or another version`);
    if (live !== undefined && live.location !== placement.location) {
      const there = live.location === 'local' ? 'runs it itself' : `reaches it at ${String(live.url)}`;
      notes.push(`${placement.name}: this environment places it ${placement.location === 'local' ? 'in the process' : `at ${placement.url}`}, but the process at ${processUrl} ${there}; run the command with that process's settings`);
    } else if (live !== undefined && placement.location === 'remote' && live.url !== placement.url) {
      notes.push(`${placement.name}: this environment places it at ${placement.url}, but the process at ${processUrl} reaches it at ${String(live.url)}; run the command with that process's settings`);
    }
    const status = live?.status === 'up' || live?.status === 'down' ? live.status : null;
    const breaker = live?.breaker === 'closed' || live?.breaker === 'open' || live?.breaker === 'half-open' ? live.breaker : null;
    const url = placement.location === 'remote' ? placement.url : processUrl;
    return {
      name: placement.name,
      location: placement.location,
      url,
      code: input.codeOf(placement.name),
      extracted: input.extracted.has(placement.name),
      breaker,
      status,
      service: placement.location === 'remote' ? (input.serviceHealth.get(url)?.state ?? 'unreachable') : null,
    };
  });
  return {
    topologyFile: input.topologyFile,
    settings: input.settings,
    process: { url: processUrl, state: processHealth.state, httpStatus: processHealth.httpStatus ?? null, status: typeof body.status === 'string' ? body.status : null },
    modules,
    notes,
    graph: moduleGraphEdges(input.descriptions),
  };
}

/**
 * The module graph with one box per process: the modules this process runs,
 * then each remote URL with the modules served there; modules that are down
 * get a red dashed border.
 *
 * @example
 * console.log(renderTopologyMermaid(report, descriptions).join('\n'));
 */
export function renderTopologyMermaid(report: TopologyReport, descriptions: readonly ModuleDescription[]): string[] {
  const groups: ModuleGraphGroup[] = [];
  const local = report.modules.filter((m) => m.location === 'local').map((m) => m.name);
  if (local.length > 0) groups.push({ id: 'here', title: `this process: ${report.process.url}`, modules: local });
  const byUrl = new Map<string, TopologyModuleReport[]>();
  for (const m of report.modules.filter((m) => m.location === 'remote')) byUrl.set(m.url, [...(byUrl.get(m.url) ?? []), m]);
  for (const [url, served] of byUrl) {
    const title = served.every((m) => m.extracted) ? `${url} (extracted)` : url;
    groups.push({ id: `service${groups.length + (local.length > 0 ? 0 : 1)}`, title, modules: served.map((m) => m.name) });
  }
  const down = report.modules.filter((m) => m.status === 'down' || (m.service !== null && m.service !== 'up')).map((m) => m.name);
  return moduleGraphMermaid(descriptions, { groups, down });
}

/** The settings line: which file and settings decided the placements. */
function placementsLine(report: TopologyReport): string {
  const file = report.topologyFile ?? 'no topology file';
  const settings = Object.entries(report.settings).map(([k, v]) => `${k}=${v}`);
  return `placements: ${file}${settings.length > 0 ? ` with ${settings.join(' ')}` : ' (MODULES and SERVICE_URL_<MODULE> unset)'}`;
}

/** The process line: its status, or that nothing answers at its URL. */
function processLine(report: TopologyReport): string {
  const { url, state, httpStatus, status } = report.process;
  if (state === 'not running') return `not running at ${url}`;
  if (state === 'no answer') return `no answer from ${url}/health in time`;
  if (state === 'unreachable') return `cannot reach ${url}`;
  return `process at ${url}: ${status ?? 'unknown'} (HTTP ${httpStatus})`;
}

/**
 * The text form of `npm run topology`: the placements line, a table of the
 * modules, the process line, notes, then the Mermaid graph.
 *
 * @example
 * for (const line of renderTopologyText(report, descriptions)) console.log(line);
 */
export function renderTopologyText(report: TopologyReport, descriptions: readonly ModuleDescription[]): string[] {
  const rows = [
    ['MODULE', 'LOCATION', 'URL', 'CODE', 'BREAKER', 'STATUS', 'SERVICE'],
    ...report.modules.map((m) => [m.name, m.location, m.url, m.code, m.breaker ?? '-', m.status ?? '-', m.service ?? '-']),
  ];
  return [
    placementsLine(report),
    ...tableLines(rows),
    processLine(report),
    ...report.notes.map((note) => `note: ${note}`),
    '',
    'module graph (Mermaid): solid arrows are API calls, dashed ones events (event@version → handler), one box per process',
    ...renderTopologyMermaid(report, descriptions),
  ];
}
