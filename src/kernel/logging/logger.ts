import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * The process's pino logger. Lines about a request or an event delivery carry
 * its `correlationId` as a field: the kit logs through a child bound to it
 * (the event handler's `logger`, the request log and error lines).
 *
 * @example
 * const logger = createLogger('info');
 * logger.child({ correlationId: 'abc' }).info('hello'); // {"correlationId":"abc",...}
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, base: { pid: process.pid } }, destination);
}
