/**
 * The README cannot drift from the API: every ```ts block is compiled, strictly and with the
 * project's tsconfig, against the package's own sources (`drover` is lib/index.ts, the subpath
 * exports their modules), and the Quick start runs end to end on the test server. Names a block
 * uses without declaring come from the README's `readme-prelude` comment (see
 * test/support/readme-blocks.ts); probes below show that wrong names, properties and imports fail.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type ts from 'typescript';
import { QueueGroup } from '../../lib';
import { Management } from '../../lib/ops/management';
import {
  blockCompilerOptions,
  blockModule,
  createModulesProgram,
  declaredNames,
  emitRunnable,
  moduleErrors,
  parseMarkdown,
  preludeFor,
  preludeProblems,
  type BlockModule,
  type CodeBlock,
} from '../support/readme-blocks';
import { testLogger } from '../support/backends';
import { freshDb, projectRoot, testUri } from '../support/server';

const root = projectRoot();
const readme = parseMarkdown(readFileSync(path.join(root, 'README.md'), 'utf8'));

/** Blocks that must not compile, each for the reason named: the checker is not vacuous. */
const PROBES: [string, CodeBlock][] = [
  ['a name nothing declares', probe(`await q.put(frobnicate);`)],
  ['a method the API does not have', probe(`await q.enqueue(job);`)],
  [
    'a property of a result that the API does not have',
    probe(
      `const req = await group.timeRanges.get('r1');\nawait group.timeRanges.cancel(req!.key);`,
    ),
  ],
  [
    'an operation imported from the main entry',
    probe(`import { Management } from 'drover';\nnew Management(group);`),
  ],
  ['an operation used without its import', probe(`await new Management(group).counts();`)],
  [
    'a payload field the job class does not have',
    probe(`SendInvoice.create({ invoiceId: 'i', colour: 'red' });`),
  ],
  ['a free variable in a standalone block', { ...probe(`await q.start();`), standalone: true }],
];

function probe(code: string): CodeBlock {
  return { line: 1, heading: 'probe', code, standalone: false };
}

/** The in-memory module of a README block (by its line) or of a probe (by its index). */
const blockFile = (b: CodeBlock): string => path.join(root, `README.md.${b.line}.mts`);
const probeFile = (i: number): string => path.join(root, `README.md.probe-${i}.mts`);

/** A block's errors, each at its README line (or in the prelude). */
function readmeErrors(program: ts.Program, b: CodeBlock, module: BlockModule): string[] {
  return moduleErrors(program, blockFile(b)).map(({ line, message }) => {
    const codeLine = line - module.preludeLines;
    return `${codeLine < 1 ? 'readme-prelude' : `README.md:${b.line + codeLine - 1}`}: ${message}`;
  });
}

describe('README code', function () {
  this.timeout(120_000);
  let program: ts.Program;
  const blockModules = new Map(readme.blocks.map((b) => [b, blockModule(b, readme.prelude)]));
  const probeModules = PROBES.map(([, b]) => blockModule(b, readme.prelude));

  before(() => {
    const modules = new Map<string, string>();
    for (const [b, m] of blockModules) modules.set(blockFile(b), m.text);
    probeModules.forEach((m, i) => modules.set(probeFile(i), m.text));
    program = createModulesProgram(modules, blockCompilerOptions(root));
    assert.deepEqual(program.getOptionsDiagnostics(), []);
    assert.deepEqual(program.getGlobalDiagnostics(), []);
  });

  it('has TypeScript blocks, a standalone Quick start and a prelude of declarations only', () => {
    assert.ok(readme.blocks.length >= 10, `${readme.blocks.length} blocks`);
    assert.ok(readme.prelude.length > 0, 'README.md has a readme-prelude comment');
    assert.deepEqual(preludeProblems(readme.prelude), []);
    const quickStart = readme.blocks.filter((b) => b.heading === 'Quick start');
    assert.equal(quickStart.length, 1);
    assert.equal(quickStart[0].standalone, true);
  });

  it('reads the blocks, their markers and the prelude of Markdown', () => {
    const markdown = [
      '# A',
      '```ts',
      'one();',
      '```',
      '## B',
      '<!-- readme: standalone -->',
      '',
      '```ts',
      'two();',
      '```',
      '```sh',
      'three',
      '```',
      '<!-- readme-prelude',
      'declare function one(): void;',
      '-->',
    ].join('\n');
    assert.deepEqual(parseMarkdown(markdown), {
      blocks: [
        { line: 3, heading: 'A', code: 'one();', standalone: false },
        { line: 9, heading: 'B', code: 'two();', standalone: true },
      ],
      prelude: 'declare function one(): void;',
    });
    assert.throws(() => parseMarkdown('<!-- readme: standlone -->\n```ts\n```'), /unknown marker/);
    assert.throws(() => parseMarkdown('<!-- readme: standalone -->\ntext'), /not followed/);
  });

  it('gives a block only the prelude entries it does not declare itself', () => {
    const prelude = `import { A, type B } from 'x';\ndeclare const q: A;\ndeclare class C {}`;
    assert.deepEqual(preludeProblems(prelude), []);
    const block = `import { A } from 'y';\nconst q = 1;`;
    assert.deepEqual([...declaredNames(block)].sort(), ['A', 'q']);
    assert.equal(
      preludeFor(prelude, declaredNames(block)),
      `import { type B } from 'x';\ndeclare class C {}`,
    );
    assert.deepEqual(
      preludeProblems(`import X from 'x';\nconst y = 1;\ndeclare const a: 1, b: 2;`),
      [
        'prelude line 1: only named imports ({ a, b }) or side-effect imports',
        'prelude line 2: only imports and ambient (declare) declarations',
        'prelude line 3: one name per declaration',
      ],
    );
  });

  for (const b of readme.blocks) {
    it(`compiles the block at README.md:${b.line} (${b.heading})`, () => {
      assert.deepEqual(readmeErrors(program, b, blockModules.get(b)!), []);
    });
  }

  PROBES.forEach(([name, b], i) => {
    it(`fails a block with ${name}`, () => {
      const errors = moduleErrors(program, probeFile(i));
      assert.ok(errors.length > 0, `compiled without errors:\n${b.code}`);
      // Only the probe's own lines are wrong: the prelude it got compiles.
      const text = errors.map((e) => `${e.line}: ${e.message}`).join('\n');
      assert.ok(
        errors.every((e) => e.line > probeModules[i].preludeLines),
        text,
      );
    });
  });

  describe('Quick start', () => {
    const db = freshDb('readme');

    it('runs end to end on the test server', async () => {
      const block = readme.blocks.find((b) => b.heading === 'Quick start');
      assert.ok(block);
      // Runs as written, but in a database of this test rather than `app`.
      const file = blockFile(block);
      const { js, replaced } = emitRunnable(root, file, block.code, blockCompilerOptions(root), {
        db,
      });
      assert.deepEqual(replaced, { db: 1 });
      const dir = mkdtempSync(path.join(tmpdir(), 'drover-readme-'));
      const saved = { uri: process.env.MONGODB_URI, level: process.env.LOG_LEVEL };
      process.env.MONGODB_URI = testUri();
      process.env.LOG_LEVEL = saved.level ?? 'silent';
      try {
        const script = path.join(dir, 'quick-start.mjs');
        writeFileSync(script, js);
        await import(pathToFileURL(script).href);
      } finally {
        restoreEnv('MONGODB_URI', saved.uri);
        restoreEnv('LOG_LEVEL', saved.level);
        rmSync(dir, { recursive: true, force: true });
      }
      // One job was put, started and aborted; whichever came first, it ended and is stored.
      const group = await QueueGroup.connect({ uri: testUri(), db, logger: testLogger });
      try {
        const { jobs } = await new Management(group).list({ queue: 'images' });
        assert.equal(jobs.length, 1);
        assert.equal(jobs[0].type.name, 'resize-image');
        assert.ok(['completed', 'aborted'].includes(jobs[0].state), jobs[0].state);
      } finally {
        await group.close();
      }
    });
  });
});

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
