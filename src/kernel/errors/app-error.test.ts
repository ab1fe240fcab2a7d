import { describe, expect, it } from 'vitest';
import { AppError, ERROR_KINDS, kindOfStatus } from './app-error.js';

describe('AppError', () => {
  it('takes its status from its kind', () => {
    expect(new AppError('NOT_FOUND', 'ORDERS.NOT_FOUND', 'gone').status).toBe(404);
    expect(new AppError('UNPROCESSABLE', 'CATALOG.UNKNOWN_PRODUCT', 'x').status).toBe(422);
  });

  it('wraps unknown errors as INTERNAL and keeps the cause out of the body', () => {
    const cause = new Error('password=secret at db.example');
    const error = AppError.from(cause);
    expect(error.kind).toBe('INTERNAL');
    expect(error.cause).toBe(cause);
    expect(JSON.stringify(error.toBody())).not.toContain('secret');
    expect(error.toBody()).toEqual({ error: { code: 'KERNEL.INTERNAL', message: 'internal error' } });
  });

  it('never sends the details of an INTERNAL error', () => {
    expect(new AppError('INTERNAL', 'X.Y', 'm', { details: { sql: 'select' } }).toBody().error.details).toBeUndefined();
    expect(new AppError('BAD_REQUEST', 'X.Y', 'm', { details: [1] }).toBody().error.details).toEqual([1]);
  });

  it('crosses JSON and back with its code, kind and details', () => {
    const original = new AppError('CONFLICT', 'CATALOG.DUPLICATE_SKU', 'dup', { details: { sku: 'a' } });
    const back = AppError.fromBody(JSON.parse(JSON.stringify(original.toBody())), original.status);
    expect(back).toMatchObject({ kind: 'CONFLICT', code: 'CATALOG.DUPLICATE_SKU', message: 'dup', details: { sku: 'a' } });
  });

  it('turns a malformed error body into a clear error of the status kind', () => {
    expect(AppError.fromBody('<html>', 502)).toMatchObject({ kind: 'INTERNAL', code: 'KERNEL.BAD_ERROR_BODY' });
    expect(AppError.fromBody({}, 418)).toMatchObject({ kind: 'BAD_REQUEST' });
  });

  it('maps every kind back from its status', () => {
    for (const [kind, status] of Object.entries(ERROR_KINDS)) expect(kindOfStatus(status)).toBe(kind);
    expect(kindOfStatus(299)).toBeUndefined();
  });
});
