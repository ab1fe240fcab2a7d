import { createApp, exitOnStartupFailure, installShutdown, loadConfig } from './kernel/index.js';
import { SHOP_EXTRACTED, SHOP_TOPOLOGY_FILE, shopModulesAt } from './app.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const app = await createApp({ name: 'shop', modules: shopModulesAt(import.meta.url), contracts: SHOP_EXTRACTED, config, topologyFile: SHOP_TOPOLOGY_FILE });
  installShutdown(app, { graceMs: config.shutdownGraceMs });
  const { port } = await app.start();
  app.logger.info(`shop listening on http://localhost:${port}`);
}

// One line on stderr for a bad setting, an unreachable server or a port in use; the whole error for a bug.
main().catch(exitOnStartupFailure);
