import { runEventsCli } from '../kernel/index.js';
import { SHOP_EXTRACTED, SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../app.js';

/**
 * `npm run events -- <command>`: the operator's view of dead letters and outbox backlogs (docs/operations.md),
 * for the modules whose code the monolith holds; an extracted module's is `npm run events -w extracted/<module>`.
 */
runEventsCli({ argv: process.argv, modules: SHOP_MODULES, contracts: SHOP_EXTRACTED, topologyFile: SHOP_TOPOLOGY_FILE }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
