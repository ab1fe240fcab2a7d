import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * `npm run contracts:check` and `contracts:update` as a user runs them, on a
 * scratch copy of this tree's contracts (src/ and contracts/, node_modules
 * linked in), edited the way a developer would.
 */
const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'tools/contracts/contracts-cli.ts');
let copy: string;

const contracts = (command: 'check' | 'update') => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', CLI, command, '--root', copy], { cwd: ROOT, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
};
const edit = (file: string, from: string | RegExp, to: string) => {
  const path = join(copy, file);
  const text = readFileSync(path, 'utf8');
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`${file}: ${String(from)} not found`);
  writeFileSync(path, changed);
};
const CATALOG = 'src/modules/catalog/catalog.contract.ts';

beforeEach(() => {
  copy = mkdtempSync(join(tmpdir(), 'mmk-contracts-'));
  for (const entry of ['src', 'contracts', 'package.json']) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
});

afterEach(() => {
  rmSync(copy, { recursive: true, force: true });
});

describe('contracts:check', () => {
  it("passes on the shop's contracts against their committed baselines", () => {
    const run = contracts('check');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/✔ contracts check passed: 4 modules, 2 operations, \d+ event versions, \d+ readers, compatible with contracts\//);
    expect(run.code).toBe(0);
  });

  it("fails when stock is removed from catalog's Product, and says what to do", () => {
    edit(CATALOG, /\n {2}stock: z\.number\(\)\.int\(\),/, '');
    const run = contracts('check');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('✖ catalog: operation getProduct output, $.stock (output-field-removed)');
    expect(run.stdout).toContain('"stock" is required by the baseline and absent from the current schema');
    expect(run.stdout).toMatch(/instead: keep producing what the baseline produced: keep the field/);
    expect(run.stdout).toMatch(/✖ contracts check failed: 1 breaking change\(s\)/);
  });

  it('records a break on purpose with contracts:update, saying it is breaking', () => {
    edit(CATALOG, /\n {2}stock: z\.number\(\)\.int\(\),/, '');
    const update = contracts('update');
    expect(update.code).toBe(0);
    expect(update.stdout).toContain('~ catalog: operation getProduct output');
    expect(update.stdout).toContain('! breaking, now recorded: catalog: operation getProduct output, $.stock (output-field-removed)');
    expect(update.stdout).toMatch(/1 change\(s\), 1 of them breaking; commit it/);
    expect(contracts('check').code).toBe(0);
  });

  it("passes when an optional field is added to priceItems's input, and update records it", () => {
    edit(CATALOG, 'input: z.strictObject({ items: z.array(OrderLine).min(1).max(100) }),', 'input: z.strictObject({ items: z.array(OrderLine).min(1).max(100), coupon: z.string().optional() }),');
    const check = contracts('check');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('1 compatible change(s) are not in contracts/ yet:\n  ~ catalog: operation priceItems input\nrecord them with npm run contracts:update');
    const update = contracts('update');
    expect(update.code).toBe(0);
    expect(update.stdout).toContain('~ catalog: operation priceItems input');
    expect(update.stdout).toMatch(/✔ wrote contracts\/ \(4 modules\): 1 change\(s\); commit it/);
    expect(readFileSync(join(copy, 'contracts/catalog.json'), 'utf8')).toContain('"coupon"');
    expect(contracts('check').stdout).not.toContain('not in contracts/ yet');
  });

  it('checks a consumer against the publisher: a reader that requires more than the event holds fails', () => {
    edit('src/modules/shipping/shipping.contract.ts', "consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid() }))", "consumes('orders.OrderConfirmed', 1, z.object({ orderId: z.uuid(), address: z.string() }))");
    const run = contracts('check');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('✖ shipping: reader create-shipment of orders.OrderConfirmed@1, $.address (reader-requires-missing-field)');
  });

  it('includes an extracted module, whose contract stays in src/modules/<m>/index.ts', () => {
    // What npm run extract -- catalog leaves in src/: the contract, listed in SHOP_EXTRACTED; its implementation is gone.
    rmSync(join(copy, 'src/modules/catalog/module.ts'));
    rmSync(join(copy, 'src/modules/catalog/internal'), { recursive: true });
    edit('src/composition.ts', "import { catalogModule } from './modules/catalog/module.js';", "import { catalogContract } from './modules/catalog/index.js';");
    edit('src/composition.ts', '[catalogModule, ordersModule', '[ordersModule');
    edit('src/composition.ts', 'SHOP_EXTRACTED = [] as const', 'SHOP_EXTRACTED = [catalogContract] as const');
    expect(contracts('check').code).toBe(0);
    edit(CATALOG, /\n {2}stock: z\.number\(\)\.int\(\),/, '');
    const run = contracts('check');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('catalog: operation getProduct output, $.stock (output-field-removed)');
  });
});

describe('contracts:check that cannot run exits 2 with one line naming the problem and the fix', () => {
  it('no baseline folder', () => {
    rmSync(join(copy, 'contracts'), { recursive: true });
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('✖ contracts check could not run: no baseline folder contracts/: run npm run contracts:update and commit contracts/\n');
  });

  it('a module without a baseline', () => {
    rmSync(join(copy, 'contracts/shipping.json'));
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/module shipping has no baseline \(contracts\/shipping\.json\): run npm run contracts:update and commit it/);
  });

  it('a damaged baseline file', () => {
    writeFileSync(join(copy, 'contracts/orders.json'), '{ "format": 1, ');
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/contracts\/orders\.json is not valid JSON .*: restore it from git, or rewrite it with npm run contracts:update/);
  });

  it('a schema zod cannot convert to JSON Schema', () => {
    edit('src/modules/payments/payments.contract.ts', 'amountCents: z.number().int()', 'amountCents: z.number().int().transform((n) => n / 100)');
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/✖ contracts check could not run: payments event payments\.PaymentCaptured@1 cannot be converted to JSON Schema \(Transforms cannot be represented in JSON Schema\)/);
  });

  it('a schema the comparator does not understand', () => {
    edit(CATALOG, "priceCents: z.number().int(),", "priceCents: z.number().int().meta({ 'x-unit': 'cents' }),");
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/✖ contracts check could not run: the comparator cannot read keyword "x-unit" at catalog: operation getProduct output, \$\.priceCents; it never passes what it cannot compare/);
    expect(run.stdout).toBe('');
  });

  it('contracts that do not load', () => {
    edit(CATALOG, "import { z } from 'zod';", "import { z } from 'zod';\nthrow new Error('boom');");
    const run = contracts('check');
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot load the contracts from src\/app\.ts \(boom\): fix that error first/);
  });
});
