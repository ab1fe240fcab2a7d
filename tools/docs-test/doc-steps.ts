import { Lexer, type Token, type Tokens } from 'marked';

/**
 * What `npm run docs:test` does with one part of a Markdown page, in page order:
 * - `run`: a ```sh block, run as written; every command must succeed;
 * - `console`: a ```console block, `$ command` lines each followed by the output they must print;
 * - `background`: a block marked `<!-- docs-test: background <name> [wait=<url>] -->`, started in the
 *   background (a reader runs it in a terminal of its own), then awaited until `<url>` answers 2xx;
 * - `stop`: `<!-- docs-test: stop <name> -->`, Ctrl-C in that terminal (SIGINT to its process group);
 * - `summary`: a block after `<!-- docs-test: summary -->` repeats commands the page runs further on (a short
 *   path at the top): each of its lines must be a line of a block the page runs, so the summary cannot drift.
 * A block after `<!-- docs-test: skip <why> -->` is not run. Other blocks (```ts, ```text, unlabelled) are prose.
 */
export type DocStep =
  | { kind: 'run'; line: number; code: string }
  | { kind: 'console'; line: number; commands: ConsoleCommand[] }
  | { kind: 'background'; line: number; code: string; name: string; waitUrl?: string }
  | { kind: 'stop'; line: number; name: string }
  | { kind: 'summary'; line: number; lines: string[] };

export interface ConsoleCommand {
  command: string;
  /** The lines the page shows under the command: each must match a line of its output, in order. */
  expected: string[];
}

export class DocFormatError extends Error {}

const DIRECTIVE = /^<!--\s*docs-test:\s*(.*?)\s*-->$/s;

/** Splits a ```console block into commands (`$ ` lines, continued by a trailing `\`) and their expected output. */
export function parseConsole(text: string, line: number): ConsoleCommand[] {
  const commands: ConsoleCommand[] = [];
  let continuing = false;
  for (const raw of text.split('\n')) {
    const current = commands.at(-1);
    if (continuing && current) {
      current.command += `\n${raw}`;
      continuing = raw.endsWith('\\');
    } else if (raw.startsWith('$ ')) {
      commands.push({ command: raw.slice(2), expected: [] });
      continuing = raw.endsWith('\\');
    } else if (current) {
      if (raw.trim() !== '') current.expected.push(raw);
    } else if (raw.trim() !== '') {
      throw new DocFormatError(`line ${line}: a console block must start with a "$ " command line, not "${raw}"`);
    }
  }
  return commands;
}

function directiveOf(token: Token): string | undefined {
  if (token.type !== 'html') return undefined;
  return DIRECTIVE.exec((token as Tokens.HTML).text.trim())?.[1];
}

/** Keeps the tokens under the headings named in `sections` (a heading's section ends at the next heading of its depth or less). */
function inSections(tokens: Token[], sections: readonly string[] | undefined): Array<{ token: Token; line: number }> {
  const out: Array<{ token: Token; line: number }> = [];
  let line = 1;
  let openDepth: number | undefined;
  for (const token of tokens) {
    const here = line;
    line += (token.raw.match(/\n/g) ?? []).length;
    if (token.type === 'heading') {
      const heading = token as Tokens.Heading;
      if (openDepth !== undefined && heading.depth <= openDepth) openDepth = undefined;
      if (sections?.includes(heading.text)) openDepth = heading.depth;
    }
    if (!sections || openDepth !== undefined) out.push({ token, line: here });
  }
  return out;
}

/**
 * The steps of a page, or of the named sections of it, in order.
 *
 * @example
 * const steps = docSteps(readFileSync('docs/migration-guide.md', 'utf8'));
 */
export function docSteps(markdown: string, sections?: readonly string[]): DocStep[] {
  const steps: DocStep[] = [];
  let pending: { words: string[]; line: number } | undefined;
  for (const { token, line } of inSections(new Lexer().lex(markdown), sections)) {
    const directive = directiveOf(token);
    if (directive !== undefined) {
      const words = directive.split(/\s+/);
      if (words[0] === 'stop') {
        if (!words[1]) throw new DocFormatError(`line ${line}: "docs-test: stop" needs the name of a background process`);
        steps.push({ kind: 'stop', line, name: words[1] });
      } else if (words[0] === 'skip' || words[0] === 'background' || words[0] === 'summary') {
        pending = { words, line };
      } else {
        throw new DocFormatError(`line ${line}: unknown directive "docs-test: ${directive}": use skip, background, stop or summary`);
      }
      continue;
    }
    if (token.type === 'space') continue;
    if (token.type !== 'code') {
      if (pending) throw new DocFormatError(`line ${pending.line}: a "docs-test: ${pending.words[0]}" directive must come right before a sh or console block`);
      continue;
    }
    const code = token as Tokens.Code;
    const lang = (code.lang ?? '').split(/\s/)[0];
    const marked = pending;
    pending = undefined;
    if (marked?.words[0] === 'skip') continue;
    if (marked?.words[0] === 'summary') {
      steps.push({ kind: 'summary', line, lines: code.text.split('\n').filter((l) => l.trim() !== '') });
      continue;
    }
    if (marked?.words[0] === 'background') {
      const name = marked.words[1];
      if (!name || name.includes('=')) throw new DocFormatError(`line ${marked.line}: "docs-test: background" needs a name first, e.g. background monolith wait=http://localhost:3000/health`);
      const wait = marked.words.find((w) => w.startsWith('wait='))?.slice('wait='.length);
      steps.push({ kind: 'background', line, code: code.text, name, ...(wait ? { waitUrl: wait } : {}) });
    } else if (lang === 'sh' || lang === 'bash') {
      steps.push({ kind: 'run', line, code: code.text });
    } else if (lang === 'console') {
      steps.push({ kind: 'console', line, commands: parseConsole(code.text, line) });
    } else if (marked) {
      throw new DocFormatError(`line ${marked.line}: a "docs-test: ${marked.words[0]}" directive must come right before a sh or console block`);
    }
  }
  if (pending) throw new DocFormatError(`line ${pending.line}: the "docs-test: ${pending.words[0]}" directive has no code block after it`);
  return steps;
}

/** A command line without its trailing `# comment` and surrounding spaces, to compare a summary with the page. */
const bare = (line: string) => line.replace(/\s+#\s.*$/, '').trim();

/**
 * The lines of a page's summary blocks that no block the page runs holds: a summary that drifted.
 *
 * @example
 * const drifted = summaryDrift(docSteps(markdown)); // [] when every summary line is run further on
 */
export function summaryDrift(steps: readonly DocStep[]): Array<{ line: number; text: string }> {
  const run = new Set<string>();
  for (const step of steps) {
    const code = step.kind === 'run' || step.kind === 'background' ? step.code : step.kind === 'console' ? step.commands.map((c) => c.command).join('\n') : '';
    for (const line of code.split('\n')) run.add(bare(line));
  }
  return steps.flatMap((step) => (step.kind === 'summary' ? step.lines.filter((l) => !run.has(bare(l))).map((text) => ({ line: step.line, text })) : []));
}
