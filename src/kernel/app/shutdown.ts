import type { App } from './create-app.js';

/**
 * Stops the app gracefully on SIGTERM or SIGINT, then exits. SIGTERM (an
 * orchestrator) first reports the process as stopping for `graceMs` while it
 * goes on serving; SIGINT (Ctrl-C) stops at once. A SIGINT while stopping
 * exits at once (someone insists); a second SIGTERM changes nothing: no
 * orchestrator sends one (they send SIGKILL after their own grace), but a
 * signal sent to a process group reaches the app both directly and through
 * every launcher that relays it (npm, tsx, a shell), and cutting the drain
 * for that would reset every client waiting (docs/operations.md).
 *
 * @example
 * installShutdown(app, { graceMs: config.shutdownGraceMs });
 */
export function installShutdown(app: Pick<App, 'stop' | 'logger'>, options: { graceMs?: number } = {}): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (signal === 'SIGTERM') {
        app.logger.info({ signal }, 'already stopping: a repeated SIGTERM changes nothing');
        return;
      }
      process.exit(1);
    }
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
