import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { ROOT } from './build.js';

const execFileAsync = promisify(execFile);

/** A fenced code block of the README or a docs page, and what its `console.log(...); // value` lines say they print. */
export interface DocBlock {
  /** `README.md:42`: where the block starts (the line of its opening fence). */
  readonly where: string;
  /** The fence's language: `ts`, `js`, `sh`, `text`, or `''` for none. */
  readonly language: string;
  readonly code: string;
  /** What each `console.log(...)` line says it prints, in order (its `// value` comment, on that line or the next). */
  readonly expected: readonly string[];
  /** The file the block is written to, inside the package so that `agentmetry` resolves to it. */
  readonly path: string;
}

// One folder per test process: the fast and the e2e project may write their blocks at the same time.
const OUT = join(ROOT, '.cache', 'doc-blocks', String(process.pid));
let cleaned = false;

/** The README and every page of docs/. */
export const DOC_PAGES: readonly string[] = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.md'))
    .sort()
    .map((file) => join('docs', file)),
];

/** Every fenced block of `pages` in `language` (every block for `'*'`), written to `.cache/doc-blocks`. */
export function docBlocks(language = 'ts', pages: readonly string[] = DOC_PAGES): DocBlock[] {
  if (!cleaned) {
    rmSync(OUT, { recursive: true, force: true });
    cleaned = true;
  }
  mkdirSync(OUT, { recursive: true });
  const blocks: DocBlock[] = [];
  for (const page of pages) {
    const lines = readFileSync(join(ROOT, page), 'utf8').split('\n');
    for (let start = 0; start < lines.length; start++) {
      const fence = /^```(\S*)$/.exec(lines[start]!.trim());
      if (fence === null) continue;
      const end = lines.findIndex((line, index) => index > start && line.trim() === '```');
      const blockLanguage = fence[1]!;
      if (language === '*' || blockLanguage === language) {
        const code = lines.slice(start + 1, end).join('\n');
        const expected = printedComments(code);
        const path = join(OUT, `${page.replace(/[/.]/g, '_')}_${start + 1}.${blockLanguage || 'txt'}`);
        writeFileSync(path, code);
        blocks.push({ where: `${page}:${start + 1}`, language: blockLanguage, code, expected, path });
      }
      start = end;
    }
  }
  return blocks;
}

/**
 * What each `console.log(...);` line of a block says it prints: its own trailing `// value`
 * comment, or, for a value too long for that line, the `// value` line right after it.
 */
function printedComments(code: string): string[] {
  const lines = code.split('\n');
  return lines.flatMap((line, index) => {
    const call = /console\.log\(.*\);(?:\s*\/\/ (.*))?$/.exec(line);
    if (call === null) return [];
    return [call[1] ?? /^\s*\/\/ (.*)$/.exec(lines[index + 1] ?? '')?.[1] ?? '(no comment says what this prints)'];
  });
}

/** Type errors of the blocks, checked together under the strict settings an app would use. */
export function typeErrors(blocks: readonly DocBlock[]): string[] {
  const program = ts.createProgram(
    blocks.map((block) => block.path),
    {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: ['node'],
      skipLibCheck: true,
    },
  );
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    return diagnostic.file === undefined ? text : `${relative(OUT, diagnostic.file.fileName)}: ${text}`;
  });
}

/**
 * Runs one block as an ES module in a new Node process and returns what each `console.log` call
 * printed, one entry per call, objects inspected on one line (as the docs write them).
 */
export async function runBlock(block: DocBlock, env: Record<string, string> = {}): Promise<string[]> {
  const preamble =
    "import { inspect as __inspect } from 'node:util';\n" +
    "console.log = (...values) => process.stdout.write('\\u0001' + values.map((value) => (typeof value === 'string' ? value : __inspect(value, { breakLength: Infinity, depth: 6 }))).join(' ') + '\\n');\n";
  const js = ts.transpileModule(block.code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  const file = block.path.replace(/\.ts$/, '.mjs');
  writeFileSync(file, preamble + js);
  const { stdout } = await execFileAsync(process.execPath, [file], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    timeout: 60_000,
  });
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('\u0001'))
    .map((line) => line.slice(1));
}

/**
 * Whether a printed value matches its comment: exactly. (An explanation goes on a comment line of
 * its own: a `value: explanation` form would let a printed `Quota exceeded` pass for the comment
 * `Quota exceeded: tokens 12000/10000`.)
 */
export function matchesComment(printed: string, comment: string): boolean {
  return printed === comment;
}
