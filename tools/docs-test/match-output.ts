/** The ellipsis a page writes where output varies (ids, times, sizes). */
export const ANYTHING = '…';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function linePattern(expected: string): RegExp {
  // A shortened id (`5cc73837-…`) stands for any UUID too.
  const line = expected.trim().replace(/\b[0-9a-f]{8}-…/g, '00000000-0000-0000-0000-000000000000');
  const parts = line.split(ANYTHING).map((part) =>
    part
      .split(/\s+/)
      .map((word) => word.split(UUID).map(escape).join(UUID.source))
      .join('\\s+'),
  );
  return new RegExp(`^\\s*${parts.join('.*?')}\\s*$`);
}

export interface OutputMismatch {
  /** The expected line that no line of the output matched (after the ones matched before it). */
  missing: string;
  /** How many expected lines matched before it. */
  matched: number;
}

/**
 * Checks that every line a page shows under a command appears in its output, in
 * order (other lines may come between). `…` stands for any text within a line,
 * a UUID or a shortened one (`5cc73837-…`) for any UUID (ids differ from run to run), and a run of spaces for any
 * run of white space, so aligned columns may widen.
 *
 * @example
 * matchOutput(['{"id":"…","sku":"mug-01"…}'], actualOutput); // undefined when it matches
 */
export function matchOutput(expected: readonly string[], actual: string): OutputMismatch | undefined {
  const lines = actual.split(/\r?\n/);
  let at = 0;
  for (const [index, line] of expected.entries()) {
    if (line.trim() === ANYTHING) continue;
    const pattern = linePattern(line);
    while (at < lines.length && !pattern.test(lines[at] ?? '')) at += 1;
    if (at >= lines.length) return { missing: line, matched: index };
    at += 1;
  }
  return undefined;
}
