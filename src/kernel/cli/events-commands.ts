import { Command, CommanderError } from 'commander';
import type { App } from '../app/create-app.js';
import type { Config } from '../config/config.js';
import { countDeadLetters, getDeadLetter, isDeadLetterId, listDeadLetters, replayDeadLetter, type DeadLetter } from '../events/dead-letters.js';
import { outboxBacklog, republishSince } from '../events/outbox-store.js';
import { formatAge, headline, parseSince, plural, positiveInt, printTable, time, UsageError } from './cli-output.js';
import type { EventsScope } from './events-scope.js';

/** Runs `fn`, turning its usage errors into refusals with exit code 2. */
async function refusingWith2(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    throw error instanceof UsageError ? new UsageError(error.message, 2) : error;
  }
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

function checkId(id: string): string {
  if (!isDeadLetterId(id)) throw new UsageError(`"${id}" is not a dead-letter id (expected a UUID)`);
  return id;
}

async function find(app: App, modules: readonly string[], id: string): Promise<DeadLetter> {
  const deadLetter = await getDeadLetter(app.database, here(app, modules), id);
  if (!deadLetter) throw new UsageError(`no dead letter ${id}`);
  return deadLetter;
}

/** What the commands need from the caller: the codebase's modules, the app to build, the settings, where to put the exit code. */
export interface ProgramParts {
  scope: EventsScope;
  withApp: (fn: (app: App) => Promise<void>, config?: Config) => Promise<void>;
  settings: () => Config;
  state: { exitCode: number };
}

/** The `events` program: list, show, replay, backlog, republish over the modules of `scope`. */
export function buildProgram({ scope, withApp, settings, state }: ProgramParts): Command {
  const all = scope.modules;
  const program = new Command('events')
    .description('dead letters and outbox backlogs of the modules of this codebase')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'events: ')) })
    .showHelpAfterError(false)
    // Thrown instead of exiting: runEventsCli resolves to the exit code (commander's own: 1, 0 for --help).
    .exitOverride();

  program
    .command('list')
    .description('dead letters, newest first (those pending replay unless --all)')
    .option('-m, --module <module>', 'only this module')
    .option('-n, --limit <n>', 'show at most n', positiveInt, 50)
    .option('-a, --all', 'include dead letters already replayed')
    .action(async (options: { module?: string; limit: number; all?: boolean }) => {
      const modules = scope.select(options.module);
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
        if (options.module === undefined) for (const note of scope.extractedNotes()) console.log(note);
      });
    });

  program
    .command('show <id>')
    .description('one dead letter in full')
    .action(async (id: string) => {
      checkId(id);
      await withApp(async (app) => {
        const d = await find(app, all, id);
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
      const modules = scope.select(options.module);
      await withApp(async (app) => {
        const targets = id ? [await find(app, all, id)] : (await listDeadLetters(app.database, { modules: here(app, modules), includeReplayed: options.force })).reverse();
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
        if (tally.failed > 0) state.exitCode = 1;
      });
    });

  program
    .command('backlog')
    .description('per module: unpublished outbox events, the age of the oldest, dead letters pending replay')
    .action(() =>
      withApp(async (app) => {
        const modules = here(app, all);
        const counts = await countDeadLetters(app.database, modules);
        const outboxes: Array<Awaited<ReturnType<typeof outboxBacklog>>> = [];
        for (const m of modules) outboxes.push(await outboxBacklog(app.database.forModule(m)));
        const rows = modules.map((m, i) => [m, String(outboxes[i]!.pending), outboxes[i]!.pending ? formatAge(outboxes[i]!.oldestAgeMs) : '-', String(counts[i]!.pending)]);
        printTable([['MODULE', 'OUTBOX UNPUBLISHED', 'OLDEST', 'DEAD LETTERS PENDING'], ...rows]);
        const unpublished = outboxes.reduce((sum, o) => sum + o.pending, 0);
        const dead = counts.reduce((sum, c) => sum + c.pending, 0);
        console.log(`${plural(unpublished, 'unpublished event')} in ${plural(outboxes.filter((o) => o.pending > 0).length, 'module')}; ${plural(dead, 'dead letter')} pending replay`);
        for (const note of scope.extractedNotes()) console.log(note);
      }),
    );

  program
    .command('republish')
    .description('hand the events published since --since back to the relays, after the broker lost them (a Redis restarted without persistence)')
    .option('-s, --since <time>', 'an ISO time (2026-11-22T02:50:00Z) or an age back from now (15m, 2h, 1d)')
    .option('-m, --module <module>', 'only this module (default: every module this process runs)')
    // Bad input is exit code 2 here, commander's own refusals (unknown option, missing value) included.
    .exitOverride((error) => {
      throw new CommanderError(error.exitCode === 0 ? 0 : 2, error.code, error.message);
    })
    .action((options: { since?: string; module?: string }) =>
      refusingWith2(async () => {
        const since = parseSince(options.since, Date.now());
        const modules = scope.select(options.module);
        const config = settings();
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
          if (options.module === undefined) for (const note of scope.extractedNotes()) console.log(note);
        }, config);
      }),
    );
  return program;
}
