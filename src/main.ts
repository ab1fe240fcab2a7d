import { AppError, ConfigError, createApp, installShutdown, loadConfig } from './kernel/index.js';
import { SHOP_EXTRACTED, SHOP_MODULES, SHOP_TOPOLOGY_FILE } from './app.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const app = await createApp({ name: 'shop', modules: SHOP_MODULES, contracts: SHOP_EXTRACTED, config, topologyFile: SHOP_TOPOLOGY_FILE });
  installShutdown(app, { graceMs: config.shutdownGraceMs });
  const { port } = await app.start();
  app.logger.info(`shop listening on http://localhost:${port}`);
}

main().catch((error: unknown) => {
  // One line on stderr for a bad setting or an unreachable service; the full error otherwise.
  if (error instanceof ConfigError || (error instanceof AppError && error.kind !== 'INTERNAL')) console.error(error.message);
  else console.error(error);
  process.exit(1);
});
