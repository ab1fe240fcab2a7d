import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { jsonBinding, localBinding } from './api-binding.js';
import { defineApi, type ApiOf } from './contract.js';

const clockApi = defineApi('clock', {
  shift: { input: z.strictObject({ at: z.iso.datetime(), minutes: z.number().int() }), output: z.object({ at: z.string() }) },
  fail: { input: z.object({}), output: z.object({}) },
  broken: { input: z.object({}), output: z.object({ n: z.number() }) },
});

const implementation: ApiOf<typeof clockApi> = {
  async shift({ at, minutes }) {
    // Returns a Date where the contract says string: only a serializing binding turns it into one.
    return { at: new Date(Date.parse(at) + minutes * 60_000) as unknown as string };
  },
  async fail() {
    throw new AppError('NOT_FOUND', 'CLOCK.NOT_FOUND', 'no such clock', { details: { id: 1 } });
  },
  async broken() {
    return { n: 'not a number' } as unknown as { n: number };
  },
};

describe('localBinding', () => {
  const api = localBinding(clockApi, implementation);

  it('validates the input before the implementation runs', async () => {
    await expect(api.shift({ at: 'yesterday', minutes: 1 })).rejects.toMatchObject({ kind: 'BAD_REQUEST', code: 'CLOCK.INVALID_INPUT' });
  });

  it('passes values through as they are', async () => {
    expect((await api.shift({ at: '2026-01-01T00:00:00.000Z', minutes: 1 })).at).toBeInstanceOf(Date);
  });
});

describe('jsonBinding', () => {
  const api = jsonBinding(clockApi, implementation);

  it('serializes the output as a remote call would', async () => {
    expect(await api.shift({ at: '2026-01-01T00:00:00.000Z', minutes: 90 })).toEqual({ at: '2026-01-01T01:30:00.000Z' });
  });

  it('rejects invalid input with BAD_REQUEST', async () => {
    await expect(api.shift({ at: '2026-01-01T00:00:00.000Z', minutes: 1.5 })).rejects.toMatchObject({ kind: 'BAD_REQUEST' });
    await expect(api.shift({ at: '2026-01-01T00:00:00.000Z', minutes: 1, extra: true } as never)).rejects.toBeInstanceOf(AppError);
  });

  it('carries errors across as their code, kind and details', async () => {
    await expect(api.fail({})).rejects.toMatchObject({ kind: 'NOT_FOUND', code: 'CLOCK.NOT_FOUND', details: { id: 1 } });
  });

  it('refuses an output that breaks the contract as INTERNAL', async () => {
    await expect(api.broken({})).rejects.toMatchObject({ kind: 'INTERNAL', code: 'CLOCK.INVALID_OUTPUT' });
  });
});
