import { InvalidArgumentError } from 'commander';

/** A mistake of the caller: one line on stderr, exit code 1 (2 for `republish`), no stack. Checked before any connection is opened where possible. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** `--limit`: a positive integer, or commander's refusal naming the option. */
export function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a positive integer');
  return Number(value);
}

/** The first line of an error; of a knex error ("<sql> - <reason>"), the reason, which is what an operator reads. */
export function headline(error: string): string {
  const line = error.split('\n')[0]!.split(' - ').pop()!;
  return line.length > 80 ? `${line.slice(0, 79)}…` : line;
}

export const time = (date: Date | null) => (date ? date.toISOString().replace(/\.\d+Z$/, 'Z') : '-');
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** "340 ms", "1.2 s", "3 min", "2.5 h", "4 d". */
export function formatAge(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min`;
  if (ms < 172_800_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${Math.floor(ms / 86_400_000)} d`;
}

/** Columns padded to their widest cell, the last one left as it is. */
export function printTable(rows: string[][]): void {
  for (const line of tableLines(rows)) console.log(line);
}

/** The lines of `printTable`. */
export function tableLines(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

const RELATIVE_TIME = /^(\d+)(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--since`: an ISO 8601 time (`2026-11-22T02:50:00Z`, a date alone is midnight UTC) or an age back from now (`90s`, `15m`, `2h`, `1d`). */
export function parseSince(value: string | undefined, now: number): Date {
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

/** A command line as an operator retypes it: arguments quoted only where the shell needs it. */
export function shellLine(args: readonly string[]): string {
  return args.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}
