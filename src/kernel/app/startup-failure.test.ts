import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import { startupFailureLine } from './startup-failure.js';

/** The error a real listen on a taken port raises. */
async function listenError(port: number): Promise<unknown> {
  const holder = createServer();
  await new Promise<void>((ready) => holder.listen(port, '127.0.0.1', ready));
  try {
    const second = createServer();
    return await new Promise((resolve) => {
      second.once('error', resolve);
      second.listen(port, '127.0.0.1', () => second.close(() => resolve(undefined)));
    });
  } finally {
    holder.close();
  }
}

describe('startupFailureLine', () => {
  it('is the message of a bad setting or of an unavailable dependency', () => {
    expect(startupFailureLine(new ConfigError('Invalid setting PORT: x'))).toBe('Invalid setting PORT: x');
    expect(startupFailureLine(new AppError('UNAVAILABLE', 'KERNEL.DATABASE_UNREACHABLE', 'cannot reach PostgreSQL'))).toBe('cannot reach PostgreSQL');
  });

  it('names PORT and the fix for a port in use', async () => {
    const error = await listenError(23_411);
    expect((error as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(startupFailureLine(error)).toBe('Invalid setting PORT: port 23411 is in use by another process; stop that process, or set PORT to a free port (PORT=0 picks one)');
  });

  it('leaves bugs to their stack trace', () => {
    expect(startupFailureLine(new TypeError('x is undefined'))).toBeUndefined();
    expect(startupFailureLine(AppError.from(new Error('boom')))).toBeUndefined();
    expect(startupFailureLine(Object.assign(new Error('connect'), { code: 'EADDRINUSE', syscall: 'connect' }))).toBeUndefined();
    expect(startupFailureLine(undefined)).toBeUndefined();
  });
});
