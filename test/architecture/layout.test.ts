/**
 * The layout holds: no import cycles in the shipped code (type-only imports included, which
 * ESLint's import-x/no-cycle skips), and a short top of lib/. The direction of imports between
 * folders is held by ESLint (eslint.config.mjs: import-x/no-restricted-paths).
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../support/server';

const SHIPPED = ['lib', 'jobs', 'dependency'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

/** Relative imports of `file` resolved to files, type-only ones included. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((ref) => ref.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => {
      const base = path.resolve(path.dirname(file), spec);
      return [`${base}.ts`, path.join(base, 'index.ts')].find((c) => existsSync(c));
    })
    .filter((f): f is string => f !== undefined);
}

/** Every cycle found by a depth-first walk, as a list of files relative to the root. */
function findCycles(files: string[], root: string): string[][] {
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        cycles.push(stack.slice(stack.indexOf(next)).map((f) => path.relative(root, f)));
      } else if (!state.has(next) && graph.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles;
}

describe('layout', () => {
  const root = projectRoot();

  it('has no import cycles in lib/, jobs/ and dependency/, type imports included', () => {
    const files = SHIPPED.flatMap((d) => sourceFiles(path.join(root, d)));
    assert.ok(files.length > 50, 'the walk found the sources');
    assert.deepEqual(findCycles(files, root), []);
  });

  it('keeps at most 12 files at the top of lib/ (the rest lives in a folder per responsibility)', () => {
    const top = readdirSync(path.join(root, 'lib')).filter((n) => n.endsWith('.ts'));
    assert.ok(top.length <= 12, `lib/ holds ${top.length} files: ${top.join(', ')}`);
  });

  it('finds a cycle made only of type imports (the check itself works)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'drover-cycle-'));
    try {
      writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport type A = B;\n");
      writeFileSync(
        path.join(dir, 'b.ts'),
        "import type { A } from './a';\nexport type B = A[];\n",
      );
      const cycles = findCycles(sourceFiles(dir), dir);
      assert.deepEqual(cycles, [['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
