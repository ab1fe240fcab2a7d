import { describe, expect, it } from 'vitest';
import * as kernel from '../../src/kernel/index.js';
import { serviceMain } from './service-files.js';

const SPEC = { module: 'payments', others: ['shipping', 'catalog', 'orders'], port: 3003, monolithUrl: 'http://127.0.0.1:3000', rootName: 'modular-monolith-kit' };

describe('the extracted service\'s generated main', () => {
  it('ends a failed start the way npm start does: one line for what the operator can fix, exit code 1', () => {
    const main = serviceMain(SPEC);
    expect(main).toContain("import { createApp, exitOnStartupFailure, installShutdown, loadConfig } from '../../../src/kernel/index.js';");
    expect(main.trimEnd().endsWith('main().catch(exitOnStartupFailure);')).toBe(true);
    expect(main).not.toContain('console.error(error');
    // The names it imports are the kernel's.
    for (const name of ['createApp', 'exitOnStartupFailure', 'installShutdown', 'loadConfig'] as const) expect(typeof kernel[name]).toBe('function');
  });

  it('imports every other module\'s contract, in name order, and its own module', () => {
    const main = serviceMain(SPEC);
    const contracts = [...main.matchAll(/import \{ (\w+)Contract \} from '\.\.\/\.\.\/\.\.\/src\/modules\/(\w+)\/index\.js';/g)].map((m) => m[2]);
    expect(contracts).toEqual(['catalog', 'orders', 'shipping']);
    expect(main).toContain("import { paymentsModule } from './module.js';");
  });
});
