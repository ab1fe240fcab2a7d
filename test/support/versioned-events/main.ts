import { AppError, ConfigError, createApp, installShutdown, loadConfig } from '../../../src/kernel/index.js';
import { buildFromEnv, messageModules } from './message-modules.js';

/**
 * A child process of the event-version tests: one build of the sender and
 * receiver pair (VERSIONED_SENDER, VERSIONED_RECEIVER: 1 or 2), running the
 * module MODULES names, as `src/main.ts` runs the shop.
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const app = await createApp({ modules: messageModules(buildFromEnv(process.env)), config });
  installShutdown(app, { graceMs: config.shutdownGraceMs });
  await app.start();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || (error instanceof AppError && error.kind !== 'INTERNAL')) console.error(error.message);
  else console.error(error);
  process.exit(1);
});
