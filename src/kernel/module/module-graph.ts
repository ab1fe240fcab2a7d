import type { ModuleDescription } from './describe-contracts.js';

/** A box around some modules of the graph: in `npm run topology`, the modules one process runs. */
export interface ModuleGraphGroup {
  /** A Mermaid id: letters, digits and `_`. */
  readonly id: string;
  readonly title: string;
  readonly modules: readonly string[];
}

export interface ModuleGraphOptions {
  /** Boxes to draw the modules in; a module in none is drawn outside them. */
  readonly groups?: readonly ModuleGraphGroup[];
  /** Modules to mark as down (a red dashed border). */
  readonly down?: readonly string[];
}

/**
 * The module graph as Mermaid flowchart lines: one node per module (with its
 * API operations), solid arrows for declared API dependencies, dashed arrows
 * for events from publisher to consumer, labelled `event@version → handler`.
 * `npm run arch:graph` and `npm run topology` both draw it.
 *
 * @example
 * const mermaid = moduleGraphMermaid(describeContracts(contracts), { groups: [{ id: 'here', title: 'http://127.0.0.1:3000', modules: ['catalog'] }] }).join('\n');
 */
export function moduleGraphMermaid(modules: readonly ModuleDescription[], options: ModuleGraphOptions = {}): string[] {
  const lines = ['flowchart LR'];
  const node = (m: ModuleDescription) => `${m.name}["${m.name}${m.operations.length ? `<br/><small>API: ${m.operations.join(', ')}</small>` : ''}"]`;
  const groups = options.groups ?? [];
  for (const group of groups) {
    lines.push(`  subgraph ${group.id}["${group.title.replace(/"/g, '#quot;')}"]`);
    for (const m of modules.filter((m) => group.modules.includes(m.name))) lines.push(`    ${node(m)}`);
    lines.push('  end');
  }
  for (const m of modules.filter((m) => !groups.some((g) => g.modules.includes(m.name)))) lines.push(`  ${node(m)}`);
  const edges = moduleGraphEdges(modules);
  for (const { from, to } of edges.api) lines.push(`  ${from} -->|API| ${to}`);
  for (const e of edges.events) lines.push(`  ${e.from} -. "${e.event.split('.')[1]}@${e.version} → ${e.handler.split('.')[1]}" .-> ${e.to}`);
  const down = modules.filter((m) => options.down?.includes(m.name)).map((m) => m.name);
  if (down.length > 0) lines.push('  classDef down stroke:#d33,stroke-width:3px,stroke-dasharray:5 3', `  class ${down.join(',')} down`);
  return lines;
}

/** The edges of the module graph as data: declared API dependencies, and each event from its publisher to each handler that reads that version. */
export interface ModuleGraphEdges {
  api: Array<{ from: string; to: string }>;
  events: Array<{ from: string; to: string; event: string; version: number; handler: string }>;
}

/**
 * The arrows `moduleGraphMermaid` draws, for machine output.
 *
 * @example
 * moduleGraphEdges(describeContracts(contracts)).api; // [{ from: 'orders', to: 'catalog' }]
 */
export function moduleGraphEdges(modules: readonly ModuleDescription[]): ModuleGraphEdges {
  const api = modules.flatMap((m) => m.dependsOn.map((to) => ({ from: m.name, to })));
  const events = modules.flatMap((publisher) =>
    publisher.publishes.flatMap((event) =>
      modules.flatMap((consumer) =>
        consumer.consumes
          .filter((c) => c.event === event.name && c.version === event.version)
          .map((c) => ({ from: publisher.name, to: consumer.name, event: event.name, version: event.version, handler: c.handler })),
      ),
    ),
  );
  return { api, events };
}
