import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One module's entry in topology.json. */
export interface TopologyEntry {
  location?: 'local' | 'remote';
  url?: string;
  extracted?: boolean;
}

export interface TopologyJson {
  $comment?: string;
  modules: Record<string, TopologyEntry>;
}

export const TOPOLOGY_FILE = 'topology.json';

export function readTopologyJson(root: string): TopologyJson {
  return JSON.parse(readFileSync(join(root, TOPOLOGY_FILE), 'utf8')) as TopologyJson;
}

/**
 * topology.json in its committed layout: one line per module, so a diff
 * shows which module moved. extract and absorb write it with this, so that
 * extract-then-absorb gives back the same bytes.
 */
export function formatTopologyJson(file: TopologyJson): string {
  const lines = ['{'];
  if (file.$comment !== undefined) lines.push(`  "$comment": ${JSON.stringify(file.$comment)},`);
  lines.push('  "modules": {');
  const names = Object.keys(file.modules);
  names.forEach((name, i) => {
    const entry = file.modules[name]!;
    const fields = Object.entries(entry).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    lines.push(`    ${JSON.stringify(name)}: { ${fields.join(', ')} }${i < names.length - 1 ? ',' : ''}`);
  });
  lines.push('  }', '}', '');
  return lines.join('\n');
}
