import { runCli } from './cli.js';

/** `npm run extract -- <module> [--dry-run]`: moves a module's implementation to extracted/<module>/ as a service of its own. */
runCli('extract', process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✖ extract failed, nothing was changed: ${(error as Error).message}`);
    process.exit(1);
  },
);
