import { posix } from 'node:path';
import ts from 'typescript';

/** Where files go: repository-relative POSIX paths, old → new, one entry per file. */
export type FileMoves = ReadonlyMap<string, string>;

/** One relative module specifier of a source file: its text and where it sits (inside the quotes). */
interface Specifier {
  text: string;
  start: number;
  end: number;
}

/** Every module specifier of a TypeScript source: static imports and re-exports, `import()` and `import('x').T` types. */
export function moduleSpecifiers(fileName: string, source: string): Specifier[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Specifier[] = [];
  const take = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) found.push({ text: node.text, start: node.getStart(file) + 1, end: node.getEnd() - 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) take(node.moduleSpecifier);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) take(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) take(node.argument.literal);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) take(node.moduleReference.expression);
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The source file a relative specifier names (`./x.js` → `x.ts`), repository-relative. */
function targetOf(fromFile: string, specifier: string): string {
  const joined = posix.normalize(posix.join(posix.dirname(fromFile), specifier));
  return joined.endsWith('.js') ? `${joined.slice(0, -3)}.ts` : joined;
}

/** The specifier that names `target` (a repository-relative source path) from `fromFile`, in the codebase's style. */
function specifierFor(fromFile: string, target: string, original: string): string {
  let spec = posix.relative(posix.dirname(fromFile), target);
  if (original.endsWith('.js') && spec.endsWith('.ts')) spec = `${spec.slice(0, -3)}.js`;
  return spec.startsWith('.') ? spec : `./${spec}`;
}

/**
 * The source of a file after a set of moves, with every relative specifier
 * pointing at the same file as before: the file itself may have moved
 * (`oldPath` → `newPath`), and so may the files it imports. Specifiers are
 * written in their shortest relative form (the codebase's style), and only
 * where they change, so moving files back gives back the original bytes.
 * Works on the TypeScript syntax tree,
 * never on the text with patterns. Returns the source unchanged when there
 * is nothing to do.
 *
 * @example
 * rewriteImports(src, 'src/modules/payments/module.ts', 'extracted/payments/src/module.ts', moves)
 * // "../../kernel/index.js" becomes "../../../src/kernel/index.js"; "./internal/x.js" stays
 */
export function rewriteImports(source: string, oldPath: string, newPath: string, moves: FileMoves): string {
  let out = '';
  let at = 0;
  for (const spec of moduleSpecifiers(oldPath, source)) {
    if (!spec.text.startsWith('./') && !spec.text.startsWith('../')) continue;
    const target = targetOf(oldPath, spec.text);
    const movedTarget = moves.get(target) ?? target;
    // A file that stays keeps every specifier that still names the right file. A moved file gets the shortest
    // relative form of each: a path that happens to resolve from both places (same depth) would otherwise keep
    // the other place's spelling, and moving back would not give back the original bytes.
    const canonical = specifierFor(newPath, movedTarget, spec.text);
    if (oldPath === newPath ? targetOf(newPath, spec.text) === movedTarget : canonical === spec.text) continue;
    out += source.slice(at, spec.start) + canonical;
    at = spec.end;
  }
  return at === 0 ? source : out + source.slice(at);
}

/** Whether any relative specifier of the source names one of the moved files. */
export function importsAnyOf(source: string, path: string, moves: FileMoves): boolean {
  return moduleSpecifiers(path, source).some((s) => (s.text.startsWith('./') || s.text.startsWith('../')) && moves.has(targetOf(path, s.text)));
}
