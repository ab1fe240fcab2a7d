import { Command, InvalidArgumentError } from 'commander';
import {
  AppError, ConfigError, countDeadLetters, createApp, createLogger, getDeadLetter, isDeadLetterId, listDeadLetters, loadConfig, outboxBacklog,
  replayDeadLetter, republishSince, type App, type DeadLetter,
} from '../kernel/index.js';
import { SHOP_EXTRACTED, SHOP_MODULES, SHOP_TOPOLOGY_FILE } from '../app.js';

/** `npm run events -- <command>`: the operator's view of dead letters and outbox backlogs (docs/operations.md). */
const MODULES: string[] = SHOP_MODULES.map((m) => m.name);

/** A mistake of the caller: one line on stderr, exit code 1 (2 for `republish`), no stack. Checked before any connection is opened where possible. */
class UsageError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Runs `fn`, turning its usage errors into refusals with exit code 2. */
async function refusingWith2(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    throw error instanceof UsageError ? new UsageError(error.message, 2) : error;
  }
}

function modulesOf(name: string | undefined): string[] {
  if (name === undefined) return MODULES;
  if (!MODULES.includes(name)) throw new UsageError(`unknown module "${name}" (known modules: ${MODULES.join(', ')})`);
  return [name];
}

/**
 * The modules among `wanted` whose tables this process's database holds: the
 * ones the topology runs here (`MODULES`, topology.json). Asking for one that
 * runs elsewhere is a mistake of the caller.
 */
function here(app: App, wanted: readonly string[]): string[] {
  const local = wanted.filter((m) => app.topology.local.includes(m));
  if (wanted.length === 1 && local.length === 0) {
    throw new UsageError(`module ${wanted[0]} does not run in this topology (MODULES), so its tables are not in this database; run the command with the settings of the process that runs it`);
  }
  return local;
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/**
 * The app `npm start` builds, minus HTTP and relays. Logs go to stderr so stdout stays the report;
 * only errors by default, since the report itself says what went wrong.
 */
async function withApp(fn: (app: App) => Promise<void>): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'error', ...process.env });
  const app = await createApp({ modules: SHOP_MODULES, contracts: SHOP_EXTRACTED, config, topologyFile: SHOP_TOPOLOGY_FILE, logger: createLogger(config.logLevel, process.stderr) });
  try {
    await fn(app);
  } finally {
    await app.stop();
  }
}

function checkId(id: string): string {
  if (!isDeadLetterId(id)) throw new UsageError(`"${id}" is not a dead-letter id (expected a UUID)`);
  return id;
}

async function find(app: App, id: string): Promise<DeadLetter> {
  const deadLetter = await getDeadLetter(app.database, here(app, MODULES), id);
  if (!deadLetter) throw new UsageError(`no dead letter ${id}`);
  return deadLetter;
}

/** The first line of an error; of a knex error ("<sql> - <reason>"), the reason, which is what an operator reads. */
function headline(error: string): string {
  const line = error.split('\n')[0]!.split(' - ').pop()!;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

const time = (date: Date | null) => (date ? date.toISOString().replace(/\.\d+Z$/, 'Z') : '-');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "340 ms", "1.2 s", "3 min", "2.5 h", "4 d". */
function formatAge(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${Math.floor(ms / 86_400_000)} d`;
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

const program = new Command('events')
  .description('dead letters and outbox backlogs of the shop modules')
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'events: ')) })
  .showHelpAfterError(false);

program
  .command('list')
  .description('dead letters, newest first (those pending replay unless --all)')
  .option('-m, --module <module>', 'only this module')
  .option('-n, --limit <n>', 'show at most n', positiveInt, 50)
  .option('-a, --all', 'include dead letters already replayed')
  .action(async (options: { module?: string; limit: number; all?: boolean }) => {
    const modules = modulesOf(options.module);
    await withApp(async (app) => {
      const rows = await listDeadLetters(app.database, { modules: here(app, modules), includeReplayed: options.all, limit: options.limit });
      const header = ['ID', 'MODULE', 'HANDLER', 'EVENT', 'ATTEMPTS', 'FAILED AT', 'REPLAYED', 'ERROR'];
      const cells = rows.map((d) => [d.id, d.module, d.handler, `${d.eventName}@${d.eventVersion}`, String(d.attempts), time(d.failedAt), d.replayedAt ? 'yes' : 'no', headline(d.error)]);
      if (rows.length > 0) printTable([header, ...cells]);
      const counts = (await countDeadLetters(app.database, here(app, modules))).map((c) => ({ ...c, shown: options.all ? c.total : c.pending }));
      const total = counts.reduce((sum, c) => sum + c.shown, 0);
      const pending = counts.reduce((sum, c) => sum + c.pending, 0);
      const more = rows.length < total ? `; showing the newest ${rows.length} (--limit)` : '';
      console.log(`${plural(total, 'dead letter')} (${pending} pending replay) in ${plural(counts.filter((c) => c.shown > 0).length, 'module')}${more}`);
    });
  });

program
  .command('show <id>')
  .description('one dead letter in full')
  .action(async (id: string) => {
    checkId(id);
    await withApp(async (app) => {
      const d = await find(app, id);
      printTable([['id', d.id], ['module', d.module], ['handler', d.handler], ['event', `${d.eventName}@${d.eventVersion} (id ${d.eventId})`],
        ['attempts', String(d.attempts)], ['failed at', d.failedAt.toISOString()], ['replayed at', d.replayedAt?.toISOString() ?? '-']]);
      console.log(`error:\n  ${d.error.split('\n').join('\n  ')}\nenvelope:\n${JSON.stringify(d.envelope, null, 2)}`);
    });
  });

program
  .command('replay [id]')
  .description('deliver a dead letter (or --all pending ones) once more to its handler')
  .option('-a, --all', 'every dead letter pending replay, oldest first')
  .option('-m, --module <module>', 'with --all: only this module')
  .option('-f, --force', 'replay even if already replayed (the inbox makes a processed event a no-op)')
  .action(async (id: string | undefined, options: { all?: boolean; module?: string; force?: boolean }) => {
    if ((id === undefined) === !options.all) throw new UsageError('give either a dead-letter id or --all');
    if (options.module !== undefined && !options.all) throw new UsageError('--module goes with --all');
    if (id !== undefined) checkId(id);
    const modules = modulesOf(options.module);
    await withApp(async (app) => {
      const targets = id ? [await find(app, id)] : (await listDeadLetters(app.database, { modules: here(app, modules), includeReplayed: options.force })).reverse();
      const tally = { handled: 0, duplicate: 0, failed: 0, skipped: 0 };
      for (const [i, target] of targets.entries()) {
        process.stdout.write(`replaying ${i + 1}/${targets.length} ${target.id} ${target.handler} ${target.eventName}@${target.eventVersion} … `);
        const result = await replayDeadLetter(app.database, app.consumers, target, { force: options.force });
        tally[result.outcome] += 1;
        if (result.outcome === 'failed') console.log(`failed: ${headline(result.error ?? '')} (attempts ${result.deadLetter.attempts})`);
        else if (result.outcome === 'skipped') console.log(`skipped: already replayed at ${time(target.replayedAt)} (--force to replay again)`);
        else console.log(result.outcome);
      }
      const skipped = tally.skipped > 0 ? `, skipped ${tally.skipped}` : '';
      console.log(`replayed ${tally.handled}, duplicate ${tally.duplicate}, failed ${tally.failed}${skipped}`);
      if (tally.failed > 0) process.exitCode = 1;
    });
  });

program
  .command('backlog')
  .description('per module: unpublished outbox events, the age of the oldest, dead letters pending replay')
  .action(() =>
    withApp(async (app) => {
      const modules = here(app, MODULES);
      const counts = await countDeadLetters(app.database, modules);
      const outboxes: Array<Awaited<ReturnType<typeof outboxBacklog>>> = [];
      for (const m of modules) outboxes.push(await outboxBacklog(app.database.forModule(m)));
      const rows = modules.map((m, i) => [m, String(outboxes[i]!.pending), outboxes[i]!.pending ? formatAge(outboxes[i]!.oldestAgeMs) : '-', String(counts[i]!.pending)]);
      printTable([['MODULE', 'OUTBOX UNPUBLISHED', 'OLDEST', 'DEAD LETTERS PENDING'], ...rows]);
      const unpublished = outboxes.reduce((sum, o) => sum + o.pending, 0);
      const dead = counts.reduce((sum, c) => sum + c.pending, 0);
      console.log(`${plural(unpublished, 'unpublished event')} in ${plural(outboxes.filter((o) => o.pending > 0).length, 'module')}; ${plural(dead, 'dead letter')} pending replay`);
    }),
  );

const RELATIVE_TIME = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: an ISO 8601 time (`2026-11-22T02:50:00Z`, a date alone is midnight UTC) or an age back from now (`90s`, `15m`, `2h`, `1d`). */
function parseSince(value: string | undefined, now: number): Date {
  if (value === undefined) throw new UsageError('republish needs --since <time>: the time from which published events are handed over again, an ISO time (2026-11-22T02:50:00Z) or an age (15m, 2h, 1d); pick one before the broker lost them');
  const relative = RELATIVE_TIME.exec(value);
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS]);
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new UsageError(`--since "${value}" is not a time: give an ISO time such as 2026-11-22T02:50:00Z or an age such as 15m, 2h or 1d`);
  }
  if (date.getTime() > now) throw new UsageError(`--since ${date.toISOString()} is in the future: no event was published after it yet; give a time before the broker lost its events`);
  return date;
}

program
  .command('republish')
  .description('hand the events published since --since back to the relays, after the broker lost them (a Redis restarted without persistence)')
  .option('-s, --since <time>', 'an ISO time (2026-11-22T02:50:00Z) or an age back from now (15m, 2h, 1d)')
  .option('-m, --module <module>', 'only this module (default: every module this process runs)')
  // Bad input is exit code 2 here, commander's own refusals (unknown option, missing value) included.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .action((options: { since?: string; module?: string }) =>
    refusingWith2(async () => {
      const since = parseSince(options.since, Date.now());
      const modules = modulesOf(options.module);
      const config = loadConfig({ LOG_LEVEL: 'error', ...process.env });
      if (config.eventBus !== 'bullmq') {
        throw new UsageError('republish is for EVENT_BUS=bullmq: on the memory bus an event is marked published only once its handlers handled it, so no broker can have lost it; run the command with the settings of the servers (EVENT_BUS, REDIS_URL, DATABASE_URL, MODULES)');
      }
      await withApp(async (app) => {
        const local = here(app, modules);
        const counts: number[] = [];
        for (const m of local) counts.push(await republishSince(app.database.forModule(m), since));
        if (local.length > 0) printTable([['MODULE', 'REPUBLISHED'], ...local.map((m, i) => [m, String(counts[i])])]);
        const total = counts.reduce((sum, n) => sum + n, 0);
        console.log(
          `${plural(total, 'event')} published since ${time(since)} handed back to the relays of ${plural(counts.filter((n) => n > 0).length, 'module')}; ` +
            'a running process of each module publishes them again (npm run events -- backlog shows what still waits), and consumers skip what they already handled',
        );
      });
    }),
  );

/** One line for what the operator can fix (input, settings, an unmigrated or unreachable database); the full error for a bug. */
function describe(error: unknown): unknown {
  if (error instanceof UsageError) return `events: ${error.message}`;
  if (error instanceof ConfigError || (error instanceof AppError && error.kind !== 'INTERNAL')) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return error;
  const reason = headline(String((error as Error).message ?? '')) || code;
  if (/^E[A-Z]+$/.test(code)) return `events: cannot reach the database (${reason})`;
  if (['42P01', '3F000', '42704'].includes(code)) return `events: the database is not migrated (${reason}); run npm run migrate first`;
  return `events: database error: ${reason}`;
}

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(describe(error));
    process.exit(error instanceof UsageError ? error.exitCode : 1);
  },
);
