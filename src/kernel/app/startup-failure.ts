import { ConfigError } from '../config/config.js';
import { AppError } from '../errors/app-error.js';

/**
 * The one line that tells the operator what stopped start-up and how to fix
 * it: a bad setting, a server that cannot be reached, a port that is taken.
 * Undefined for anything else (a bug), whose whole error with its stack is
 * worth printing.
 *
 * @example
 * startupFailureLine(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'listen', port: 3000 }));
 * // 'Invalid setting PORT: port 3000 is in use by another process; stop that process, or set PORT to a free port (PORT=0 picks one)'
 */
export function startupFailureLine(error: unknown): string | undefined {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof AppError) return error.kind === 'INTERNAL' ? undefined : error.message;
  const { code, syscall, port } = (error ?? {}) as { code?: unknown; syscall?: unknown; port?: unknown };
  if (syscall !== 'listen') return undefined;
  if (code === 'EADDRINUSE') return `Invalid setting PORT: port ${port} is in use by another process; stop that process, or set PORT to a free port (PORT=0 picks one)`;
  if (code === 'EACCES') return `Invalid setting PORT: port ${port} needs privileges this process does not have; set PORT to 1024 or above`;
  return undefined;
}

/**
 * The end of an entry point whose start-up failed: one line on stderr for
 * what the operator can fix ({@link startupFailureLine}), the whole error for
 * a bug; exit code 1.
 *
 * @example
 * main().catch(exitOnStartupFailure);
 */
export function exitOnStartupFailure(error: unknown): never {
  console.error(startupFailureLine(error) ?? error);
  process.exit(1);
}
