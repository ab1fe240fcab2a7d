import { describeModules } from '../../src/kernel/index.js';
import { SHOP_MODULES } from '../../src/app.js';
import { renderEventCatalog, renderModuleGraph } from './render-architecture.js';

/** Where the generated architecture documents live. */
export const GRAPH_FILES = { graph: 'docs/architecture/modules.md', events: 'docs/architecture/events.md' } as const;

/** The generated documents, from the composition root's modules. */
export function renderArchitectureDocs(): Record<keyof typeof GRAPH_FILES, string> {
  const modules = describeModules(SHOP_MODULES);
  return { graph: renderModuleGraph(modules), events: renderEventCatalog(modules) };
}
