/** The composition root: the modules of the shop (src/composition.ts, written by extract and absorb). */
export { SHOP_MODULES, SHOP_EXTRACTED } from './composition.js';

/** Where each module runs by default; `extract` and `absorb` edit it, the environment overrides it. */
export const SHOP_TOPOLOGY_FILE = 'topology.json';
