import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/config.js';
import { parseFaultPoints } from './fault-points.js';

const run = promisify(execFile);

describe('test-only fault points', () => {
  it('refuses to load with NODE_ENV=production', async () => {
    const module = new URL('./fault-points.ts', import.meta.url).href;
    const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', 'await import(process.argv[1])', module], {
      env: { ...process.env, NODE_ENV: 'production' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('src/kernel/testing/fault-points.ts is test-only and refuses to load with NODE_ENV=production');
  });

  it('reads kill and delay rules and refuses anything else with one line naming the setting', () => {
    expect(() => parseFaultPoints('event.after-commit:catalog.reserve-stock=kill@3,event.before-handle=delay@5')).not.toThrow();
    for (const bad of ['event.after-commit=kill@0', 'event.nowhere=kill@1', 'event.after-commit=explode@1', 'event.after-commit']) {
      expect(() => parseFaultPoints(bad)).toThrow(ConfigError);
      expect(() => parseFaultPoints(bad)).toThrow(/^Invalid setting MMK_FAULT_POINTS: cannot read "/);
    }
  });

  it('delays every hit of a delay rule, for its subject only', async () => {
    const faults = parseFaultPoints('event.before-handle:catalog.reserve-stock=delay@50');
    expect(faults.hit('event.before-handle', 'payments.capture-payment', {})).toBeUndefined();
    const started = Date.now();
    await faults.hit('event.before-handle', 'catalog.reserve-stock', {});
    await faults.hit('event.before-handle', 'catalog.reserve-stock', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });
});
