import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger, type DestinationStream } from 'pino';

/** What the kit carries along a request or an event delivery. */
export interface RunContext {
  correlationId: string;
}

const storage = new AsyncLocalStorage<RunContext>();

/** Runs `fn` with `context` visible to logs and to events published inside it. */
export function runWithContext<T>(context: RunContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The correlation id of the request or event being handled, if any. */
export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId;
}

export type { Logger };

/**
 * A pino logger that stamps every line with the current correlation id.
 *
 * @example
 * const logger = createLogger('info');
 * runWithContext({ correlationId: 'abc' }, () => logger.info('hello')); // {"correlationId":"abc",...}
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      mixin: () => {
        const context = storage.getStore();
        return context ? { correlationId: context.correlationId } : {};
      },
    },
    destination,
  );
}
