import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docSteps } from './doc-steps.js';
import { PageFailure, runPage } from './run-page.js';

const dir = mkdtempSync(join(tmpdir(), 'mmk-docs-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SERVER = `node -e "require('http').createServer((q, s) => s.end('pong ' + process.env.GREETING)).listen(25001)"`;

async function run(markdown: string, rewrite = (c: string) => c): Promise<{ lines: string[]; error?: unknown }> {
  const lines: string[] = [];
  const scratch = mkdtempSync(join(dir, 'page-'));
  try {
    await runPage({ page: 'page.md', steps: docSteps(markdown), cwd: scratch, scratch: join(scratch, '.steps'), env: process.env, rewrite, log: (l) => lines.push(l), waitMs: 10_000 });
    return { lines };
  } catch (error) {
    return { lines, error };
  }
}

const block = (lang: string, code: string) => `\`\`\`${lang}\n${code}\n\`\`\`\n\n`;

describe('runPage', () => {
  it('runs a page as a terminal would: cd, variables and background processes carry over, and Ctrl-C stops them', async () => {
    const page =
      block('sh', 'mkdir shop && cd shop\nGREETING=hello') +
      '<!-- docs-test: background api wait=http://127.0.0.1:25001/ -->\n\n' +
      block('sh', SERVER) +
      block('console', '$ basename "$PWD"\nshop\n$ curl -s 127.0.0.1:25001/\npong hello') +
      '<!-- docs-test: stop api -->\n\n' +
      block('console', '$ curl -s -o /dev/null -w "%{http_code}\\n" 127.0.0.1:25001/ || true\n000');
    const { lines, error } = await run(page);
    expect(error).toBeUndefined();
    expect(lines.filter((l) => l.includes('✔'))).toHaveLength(5);
  });

  it('fails at a command that exits non-zero in a sh block, naming the line, and runs nothing after it', async () => {
    const { lines, error } = await run(block('sh', 'echo before\nfalse\necho after') + block('sh', 'echo next'));
    expect(error).toBeInstanceOf(PageFailure);
    expect((error as PageFailure).where).toBe('page.md:1');
    expect((error as PageFailure).output).toBe('before\n');
    expect(lines.join('\n')).not.toContain('page.md:5');
  });

  it('fails when a command does not print the line the page shows', async () => {
    const { error } = await run(block('console', '$ echo "status: degraded"\nstatus: up'));
    expect(error).toBeInstanceOf(PageFailure);
    expect((error as PageFailure).message).toContain('expected: status: up');
    expect((error as PageFailure).output).toBe('status: degraded\n');
  });

  it('fails when a background process exits before it answers, with its log', async () => {
    const { error } = await run('<!-- docs-test: background api wait=http://127.0.0.1:25002/ -->\n\n' + block('sh', 'echo "listen EADDRINUSE"; exit 1'));
    expect((error as PageFailure).message).toContain('api exited before http://127.0.0.1:25002/ answered');
    expect((error as PageFailure).output).toContain('listen EADDRINUSE');
  });

  it('kills what a page left running when it ends, and applies the rewrite to every command', async () => {
    const { lines, error } = await run('<!-- docs-test: background api wait=http://127.0.0.1:25001/ -->\n\n' + block('sh', SERVER) + block('console', '$ echo shop_main\nmmk_docs_x_main'), (c) => c.replace(/\bshop_([a-z]+)\b/g, 'mmk_docs_x_$1'));
    expect(error).toBeUndefined();
    // The background server still ran at the end of the page: closing the page stopped it.
    const probe = await fetch('http://127.0.0.1:25001/').then(() => 'answered', () => 'refused');
    expect(probe).toBe('refused');
    expect(lines.some((l) => l.includes('✔ page.md:7 console'))).toBe(true);
  });
});
