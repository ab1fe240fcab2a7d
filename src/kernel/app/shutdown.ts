import type { App } from './create-app.js';

/**
 * Stops the app gracefully on SIGTERM or SIGINT, then exits; a second signal
 * exits at once.
 *
 * @example
 * installShutdown(app);
 */
export function installShutdown(app: Pick<App, 'stop' | 'logger'>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
