import { describe, expect, it } from 'vitest';
import { DocFormatError, docSteps, parseConsole, summaryDrift } from './doc-steps.js';

const page = [
  '# Title',
  '',
  'Prose, then a block that runs:',
  '',
  '```sh',
  'export A=1',
  '```',
  '',
  '```ts',
  'const notRun = 1;',
  '```',
  '',
  '<!-- docs-test: skip (the reader runs it, not the test) -->',
  '',
  '```sh',
  'npm test',
  '```',
  '',
  '## Server',
  '',
  '<!-- docs-test: background api wait=http://localhost:3000/health -->',
  '',
  '```sh',
  'npm start',
  '```',
  '',
  '```console',
  '$ curl -s localhost:3000/health \\',
  '    -H "x: y"',
  '{"status":"up",…}',
  '$ echo done',
  'done',
  '```',
  '',
  '<!-- docs-test: stop api -->',
  '',
  '## Other',
  '',
  '```sh',
  'echo other',
  '```',
].join('\n');

describe('docSteps', () => {
  it('reads sh, console, background and stop steps in page order, with their lines, and skips what is marked', () => {
    const steps = docSteps(page);
    expect(steps.map((s) => s.kind)).toEqual(['run', 'background', 'console', 'stop', 'run']);
    expect(steps[0]).toEqual({ kind: 'run', line: 5, code: 'export A=1' });
    expect(steps[1]).toEqual({ kind: 'background', line: 23, code: 'npm start', name: 'api', waitUrl: 'http://localhost:3000/health' });
    expect(steps[2]).toMatchObject({ kind: 'console', commands: [{ command: 'curl -s localhost:3000/health \\\n    -H "x: y"', expected: ['{"status":"up",…}'] }, { command: 'echo done', expected: ['done'] }] });
    expect(steps[3]).toEqual({ kind: 'stop', line: 35, name: 'api' });
  });

  it('keeps only the named sections when asked', () => {
    expect(docSteps(page, ['Server']).map((s) => s.kind)).toEqual(['background', 'console', 'stop']);
    expect(docSteps(page, ['Other'])).toEqual([{ kind: 'run', line: 39, code: 'echo other' }]);
  });

  it('refuses directives it does not know, misplaced ones and a console block without a command', () => {
    expect(() => docSteps('<!-- docs-test: teleport -->\n\n```sh\nx\n```\n')).toThrow(/line 1: unknown directive "docs-test: teleport"/);
    expect(() => docSteps('<!-- docs-test: skip -->\n\nsome prose\n\n```sh\nx\n```\n')).toThrow(DocFormatError);
    expect(() => docSteps('<!-- docs-test: background -->\n\n```sh\nx\n```\n')).toThrow(/needs a name/);
    expect(() => docSteps('<!-- docs-test: skip -->\n')).toThrow(/has no code block after it/);
    expect(() => parseConsole('output before any command', 7)).toThrow(/line 7: a console block must start with a "\$ " command line/);
  });

  it('finds summary lines that no block of the page runs', () => {
    const summary = '<!-- docs-test: summary -->\n\n```sh\nnpm install   # 1\nnpm start\n```\n\n';
    const ok = docSteps(summary + '```sh\nnpm install\n```\n\n<!-- docs-test: background app -->\n\n```sh\nnpm start   # in a terminal of its own\n```\n');
    expect(summaryDrift(ok)).toEqual([]);
    const drifted = docSteps(summary + '```sh\nnpm ci\n```\n');
    expect(summaryDrift(drifted)).toEqual([{ line: 3, text: 'npm install   # 1' }, { line: 3, text: 'npm start' }]);
  });
});
