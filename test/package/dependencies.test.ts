/**
 * Dependencies earn their place: every runtime dependency is used by the shipped code, and the
 * optional features' ones (the dashboard, Prometheus metrics, the CLI's progress bar and parser)
 * are not loaded by an application that does not use them. Checked in fresh processes, so what
 * other tests loaded does not count.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../support/server';

/** Dependencies kept although no shipped module imports them yet, and why. */
const KEPT: Record<string, string> = {
  // class-transformer's @Type() reads design types through it; nested typed payloads will use
  // it (the payload work), and user job classes that use @Type need it installed.
  'reflect-metadata': 'class-transformer @Type',
};

/** Packages only the optional features load. */
const OPTIONAL = ['prom-client', 'cli-progress', 'commander'];

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return jsFiles(full);
    return full.endsWith('.js') ? [full] : [];
  });
}

/** Modules (under node_modules or dist/lib/ops, dist/lib/testing) that loading `entry` loads. */
function loadedBy(root: string, entry: string): string[] {
  const script = `require(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(require.cache)));`;
  const out = execFileSync('node', ['-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];
}

function packageOf(file: string): string | undefined {
  const m = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(file);
  return m?.[1].replace(/\\/g, '/');
}

describe('package: dependencies', function () {
  this.timeout(30_000);
  const root = projectRoot();
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };

  it('uses every runtime dependency in the shipped code (reflect-metadata kept on purpose)', () => {
    const shipped = ['lib', 'jobs', 'dependency'].flatMap((d) =>
      jsFiles(path.join(root, 'dist', d)),
    );
    const required = new Set<string>();
    for (const file of shipped) {
      for (const m of readFileSync(file, 'utf8').matchAll(/require\("([^"./][^"]*)"\)/g)) {
        const spec = m[1];
        required.add(
          spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0],
        );
      }
    }
    const unused = Object.keys(pkg.dependencies).filter((d) => !required.has(d) && !(d in KEPT));
    assert.deepEqual(unused, []);
    for (const d of Object.keys(KEPT)) assert.ok(d in pkg.dependencies, `${d} is still listed`);
  });

  for (const entry of ['lib/index.js', 'lib/testing/index.js']) {
    it(`loads no optional feature with dist/${entry}`, () => {
      const loaded = loadedBy(root, path.join(root, 'dist', entry));
      const packages = new Set(loaded.map(packageOf).filter((p) => p !== undefined));
      assert.ok(packages.has('mongodb'), 'the entry was loaded');
      for (const p of OPTIONAL) assert.ok(!packages.has(p), `${p} loaded`);
      const ops = loaded.filter((f) => f.includes(`${path.sep}lib${path.sep}ops${path.sep}`));
      assert.deepEqual(ops, []);
      if (entry === 'lib/index.js') {
        assert.deepEqual(
          loaded.filter((f) => f.includes(`${path.sep}lib${path.sep}testing${path.sep}`)),
          [],
        );
      }
    });
  }
});
