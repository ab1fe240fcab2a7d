import { KNOWN_VIOLATIONS_FILE } from './known-violations.js';
import { runArchCheck, type ArchViolation } from './run-arch-check.js';

/** `npm run arch:check [-- <root>]`: the architecture rules, readable, non-zero on any violation. */
async function main(): Promise<number> {
  const root = process.argv[2] ?? process.cwd();
  const started = Date.now();
  const report = await runArchCheck({ root });
  const byRule = new Map<string, ArchViolation[]>();
  for (const v of report.violations) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
  for (const [rule, violations] of byRule) {
    console.log(`\n✖ ${rule} (${violations.length})\n  ${violations[0]!.hint}`);
    for (const v of violations) console.log(`    ${v.from} → ${v.to}`);
  }
  for (const entry of report.stale) {
    console.log(`\n✖ stale entry in ${KNOWN_VIOLATIONS_FILE}: ${entry.rule} ${entry.from} → ${entry.to} no longer occurs; remove it (the list only shrinks)`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const summary = `${report.modulesCruised} files cruised in ${seconds} s: ${report.violations.length} violation(s), ${report.stale.length} stale known violation(s), ${report.tolerated.length} tolerated`;
  console.log(`\n${report.ok ? '✔' : '✖'} architecture check ${report.ok ? 'passed' : 'failed'}: ${summary}`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✖ architecture check could not run: ${(error as Error).message}`);
    process.exit(2);
  },
);
