/**
 * The package installs cleanly: `npm pack` (its prepack builds) gives a tarball holding only the
 * built lib/jobs/dependency code and types, README and LICENSE; installed offline into a scratch
 * CommonJS project and a scratch ES module project, the README's quick start compiles (with
 * `experimentalDecorators` and with standard decorators) and runs against the in-memory group,
 * every subpath export loads, and the CLI starts.
 */
import assert from 'node:assert/strict';
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { projectRoot } from '../support/server';
import { writeOfflineProject } from './offline-install';

/** The README's quick start on the in-memory group; `main` wraps it where top-level await is not allowed. */
const QUICK_START = `import 'reflect-metadata';
import { BaseJob, JobType, QueueGroup, type JobContext } from 'drover';
import { TestHarness } from 'drover/testing';

@JobType('resize-image', { version: 1 })
class ResizeImage extends BaseJob {
  url = '';
  width = 0;
  async run(ctx: JobContext): Promise<void> {
    ctx.logger.info({ url: this.url }, 'resizing');
    await ctx.progress(50);
  }
}

async function quickStart(): Promise<string> {
  const group = QueueGroup.inMemory();
  const images = await group.get('images', { workers: 4 });
  const job = ResizeImage.create({ url: 'https://x/y.png', width: 200 });
  await images.put(job);
  await images.start();
  const done = await images.waitFor(job.id);
  const loaded = await images.get<ResizeImage>(job.id);
  await group.close();
  const t = new TestHarness();
  await (await t.queue('images')).put(ResizeImage.create({ width: 1 }));
  const [run] = await t.drain();
  await t.close();
  return JSON.stringify({
    state: done.state,
    width: loaded?.width,
    instance: loaded instanceof ResizeImage,
    harness: run?.outcome,
  });
}
`;
const MAIN = {
  commonjs: `${QUICK_START}
quickStart().then((line) => console.log(line), (err: unknown) => { console.error(err); process.exit(1); });
`,
  module: `${QUICK_START}
console.log(await quickStart());
`,
};
/** Loads every entry point at run time (the exports map, as Node resolves it). */
const SUBPATHS = [
  'drover',
  'drover/management',
  'drover/dashboard',
  'drover/metrics',
  'drover/testing',
];
const LOAD_ALL = `Promise.all(${JSON.stringify(SUBPATHS)}.map((p) => import(p))).then((mods) => console.log(mods.map((m) => Object.keys(m).length > 0).join(',')));`;

const DECORATORS = {
  experimental: { experimentalDecorators: true, emitDecoratorMetadata: true },
  standard: {},
};

describe('package: pack and install', function () {
  // Packing builds the library (tsc); then two offline installs and four compiles.
  this.timeout(600_000);
  const root = projectRoot();
  const run = (cmd: string, args: string[], opts: ExecFileSyncOptions = {}): string =>
    execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 300_000,
      ...opts,
    }).toString();
  let work = '';
  let tarball = '';
  let files: string[] = [];

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'drover-pack-'));
    // A clean copy of what the package is built from: packing must not touch this checkout's dist.
    const src = path.join(work, 'src');
    for (const entry of [
      'package.json',
      'README.md',
      'LICENSE',
      'tsconfig.json',
      'tsconfig.lib.json',
      'tsconfig.build.json',
      'lib',
      'jobs',
      'dependency',
    ]) {
      cpSync(path.join(root, entry), path.join(src, entry), { recursive: true });
    }
    symlinkSync(path.join(root, 'node_modules'), path.join(src, 'node_modules'), 'dir');
    run('npm', ['pack', '--pack-destination', work, '--no-audit', '--no-fund'], { cwd: src });
    const packed = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    assert.equal(packed.length, 1, `one tarball: ${packed.join(', ')}`);
    tarball = path.join(work, packed[0]);
    files = run('tar', ['-tzf', tarball])
      .split('\n')
      .filter((f) => f && !f.endsWith('/'));
  });

  after(() => {
    if (work && !process.env.KEEP_PACK) rmSync(work, { recursive: true, force: true });
  });

  it('holds only the built lib/jobs/dependency code and types, README, LICENSE', () => {
    const outside = files.filter(
      (f) =>
        !/^package\/dist\/(lib|jobs|dependency)\/.+\.(js|d\.ts)$/.test(f) &&
        !['package/package.json', 'package/README.md', 'package/LICENSE'].includes(f),
    );
    assert.deepEqual(outside, []);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.map')),
      [],
    );
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
      bin: Record<string, string>;
    };
    const targets = Object.values(pkg.exports).flatMap((e) =>
      typeof e === 'string' ? [e] : [e.types, e.default],
    );
    for (const t of [...targets, ...Object.values(pkg.bin), 'dist/lib/sandbox/sandbox-main.js']) {
      assert.ok(files.includes(`package/${path.normalize(t)}`), `${t} is in the tarball`);
    }
  });

  for (const type of ['commonjs', 'module'] as const) {
    describe(`a ${type} project`, () => {
      const dir = () => path.join(work, type);

      before(() => {
        writeOfflineProject(root, path.join(work, 'deps'), {
          dir: dir(),
          type,
          tarball,
          devDependencies: ['@types/node'],
        });
        // An empty cache of its own: nothing can come from a registry or an earlier install.
        run(
          'npm',
          ['ci', '--offline', '--no-audit', '--no-fund', '--cache', path.join(work, 'cache')],
          {
            cwd: dir(),
          },
        );
      });

      it('loads every subpath export and runs the CLI', () => {
        const file = path.join(dir(), `load-all.${type === 'module' ? 'mjs' : 'cjs'}`);
        writeFileSync(file, LOAD_ALL);
        assert.equal(
          run('node', [file], { cwd: dir() }).trim(),
          SUBPATHS.map(() => 'true').join(','),
        );
        const version = run(path.join(dir(), 'node_modules', '.bin', 'drover'), ['--version'], {
          cwd: dir(),
        });
        assert.match(version, /0\.1\.0/);
      });

      for (const [decorators, options] of Object.entries(DECORATORS)) {
        it(`compiles and runs the quick start with ${decorators} decorators`, () => {
          writeFileSync(path.join(dir(), 'quick-start.ts'), MAIN[type]);
          const outDir = `out-${decorators}`;
          const tsconfig = {
            compilerOptions: {
              target: 'ES2022',
              module: 'nodenext',
              moduleResolution: 'nodenext',
              strict: true,
              types: ['node'],
              outDir,
              // One compile also checks every declaration file (drover's and its dependencies');
              // the others skip them, as most projects do, to keep this test short.
              skipLibCheck: !(type === 'module' && decorators === 'standard'),
              ...options,
            },
            files: ['quick-start.ts'],
          };
          writeFileSync(path.join(dir(), `tsconfig.${decorators}.json`), JSON.stringify(tsconfig));
          const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
          try {
            run('node', [tsc, '-p', `tsconfig.${decorators}.json`], { cwd: dir() });
          } catch (err) {
            assert.fail(`tsc failed: ${(err as { stdout?: string }).stdout ?? String(err)}`);
          }
          const out = run('node', [path.join(outDir, 'quick-start.js')], { cwd: dir() });
          const line = out.trim().split('\n').pop() ?? '';
          assert.deepEqual(JSON.parse(line), {
            state: 'completed',
            width: 200,
            instance: true,
            harness: 'completed',
          });
        });
      }
    });
  }
});
