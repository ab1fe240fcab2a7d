import { runCli } from './cli.js';

/** `npm run absorb -- <module> [--dry-run]`: folds an extracted module back into src/modules/<module>/, the reverse of extract. */
runCli('absorb', process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`✖ absorb failed, nothing was changed: ${(error as Error).message}`);
    process.exit(1);
  },
);
