import type { App } from './create-app.js';

/**
 * Stops the app gracefully on SIGTERM or SIGINT, then exits; a second signal
 * exits at once. SIGTERM (an orchestrator) first reports the process as
 * stopping for `graceMs` while it goes on serving; SIGINT (Ctrl-C) stops at once.
 *
 * @example
 * installShutdown(app, { graceMs: config.shutdownGraceMs });
 */
export function installShutdown(app: Pick<App, 'stop' | 'logger'>, options: { graceMs?: number } = {}): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    const graceMs = signal === 'SIGTERM' ? (options.graceMs ?? 0) : 0;
    app.logger.info({ signal, graceMs }, 'shutting down');
    app.stop({ graceMs }).then(
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
