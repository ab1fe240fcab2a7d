import { describe, expect, it } from 'vitest';
import { newRequestId } from './request-context.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('makes ids in UUID v4 form', () => {
    for (let i = 0; i < 1000; i++) expect(newRequestId()).toMatch(UUID_V4);
  });

  it('never repeats within a process', () => {
    const ids = new Set(Array.from({ length: 100_000 }, () => newRequestId()));
    expect(ids.size).toBe(100_000);
  });

  it('differs between processes (a random head per process)', async () => {
    const { execFileSync } = await import('node:child_process');
    const heads = new Set(
      Array.from({ length: 2 }, () =>
        execFileSync(
          process.execPath,
          ['--import', 'tsx', '-e', 'import(process.argv[1]).then((m) => console.log(m.newRequestId()))', new URL('request-context.ts', import.meta.url).href],
          { encoding: 'utf8' },
        )
          .trim()
          .slice(0, 24),
      ),
    );
    expect(heads.size).toBe(2);
  });
});
