import { createApp, exitOnStartupFailure, loadConfig } from '../kernel/index.js';
import { SHOP_EXTRACTED, SHOP_TOPOLOGY_FILE, shopModulesAt } from '../app.js';

/** `npm run migrate`: brings the schema of every module this process runs (its topology) up to date and reports per module. */
async function migrate(): Promise<number> {
  const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env });
  const app = await createApp({ modules: shopModulesAt(import.meta.url), contracts: SHOP_EXTRACTED, config, topologyFile: SHOP_TOPOLOGY_FILE });
  try {
    const results = await app.migrate();
    for (const result of results) {
      if (result.error) console.error(`${result.schema}: FAILED ${result.error.message}`);
      else console.log(`${result.schema}: ${result.applied.length === 0 ? 'up to date' : `applied ${result.applied.join(', ')}`}`);
    }
    return results.some((r) => r.error) ? 1 : 0;
  } finally {
    await app.database.close();
  }
}

// One line for what the operator can fix (a bad setting, a database in use or unreachable); the whole error for a bug.
migrate().then((code) => process.exit(code), exitOnStartupFailure);
