/**
 * An offline install of a packed tarball, as `npm ci` does it from a lockfile: the packages the
 * tarball needs are taken from this checkout's node_modules (the same versions, the same tree),
 * each packed into a tarball of its own, and a package-lock.json pointing at those tarballs
 * (with their integrity) lets `npm ci --offline` install without a registry.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface Manifest {
  name: string;
  version: string;
  license?: string;
  bin?: string | Record<string, string>;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** One package of the tree: where it sits (the lockfile key) and its manifest. */
interface TreePackage {
  key: string;
  dir: string;
  manifest: Manifest;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Lockfile keys where `name` may sit for a package at `key`, nearest first (Node's lookup). */
function lookupKeys(key: string, name: string): string[] {
  const out: string[] = [];
  for (let k = key; ;) {
    out.push(k ? `${k}/node_modules/${name}` : `node_modules/${name}`);
    if (!k) return out;
    const i = k.lastIndexOf('/node_modules/');
    k = i < 0 ? '' : k.slice(0, i);
  }
}

/**
 * Every package the `roots` need (their dependencies and optional dependencies present on disk,
 * transitively), as installed under `root`/node_modules, keyed by lockfile path.
 */
export function dependencyTree(root: string, roots: string[]): Map<string, TreePackage> {
  const tree = new Map<string, TreePackage>();
  const visit = (fromKey: string, name: string, optional: boolean): void => {
    const key = lookupKeys(fromKey, name).find((k) =>
      existsSync(path.join(root, k, 'package.json')),
    );
    if (!key) {
      if (optional) return;
      throw new Error(`${name} (needed by ${fromKey || 'the package'}) is not installed`);
    }
    if (tree.has(key)) return;
    const dir = path.join(root, key);
    const manifest = readManifest(dir);
    tree.set(key, { key, dir, manifest });
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(key, dep, false);
    for (const dep of Object.keys(manifest.optionalDependencies ?? {})) visit(key, dep, true);
  };
  for (const name of roots) visit('', name, false);
  return tree;
}

/** sha512 integrity of a file, as npm writes it. */
function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/** Packs a package directory (without its nested node_modules) the way npm lays tarballs out. */
function packDir(dir: string, out: string): void {
  execFileSync('tar', [
    '-czf',
    out,
    '-C',
    dir,
    '--exclude=./node_modules',
    '--transform',
    's,^\\.,package,',
    '.',
  ]);
}

/** A lockfile entry for a tarball at `tarball`, `resolved` relative to the project. */
function lockEntry(manifest: Manifest, tarball: string, project: string): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    version: manifest.version,
    resolved: `file:${path.relative(project, tarball)}`,
    integrity: integrityOf(tarball),
  };
  for (const field of ['license', 'bin', 'engines', 'dependencies', 'optionalDependencies']) {
    const value = manifest[field as keyof Manifest];
    if (value !== undefined) entry[field] = value;
  }
  return entry;
}

/** A scratch project that installs `tarball` (and `devDependencies`) offline. */
export interface ProjectSpec {
  dir: string;
  type: 'commonjs' | 'module';
  /** The packed tarball to install as a dependency. */
  tarball: string;
  /** Extra packages from the checkout (e.g. `@types/node`), as dev dependencies. */
  devDependencies: string[];
}

/**
 * Writes the project's package.json and a lockfile over tarballs of the checkout's packages
 * (packed once into `depsDir`), ready for `npm ci --offline`.
 */
export function writeOfflineProject(checkout: string, depsDir: string, spec: ProjectSpec): void {
  mkdirSync(spec.dir, { recursive: true });
  mkdirSync(depsDir, { recursive: true });
  const own = execFileSync('tar', ['-xzOf', spec.tarball, 'package/package.json'], {
    encoding: 'utf8',
  });
  const manifest = JSON.parse(own) as Manifest;
  const runtime = Object.keys(manifest.dependencies ?? {});
  const tree = dependencyTree(checkout, [...runtime, ...spec.devDependencies]);
  const devDependencies = Object.fromEntries(
    spec.devDependencies.map((n) => [n, tree.get(`node_modules/${n}`)?.manifest.version ?? '*']),
  );
  const pkg = {
    name: `scratch-${spec.type}`,
    version: '1.0.0',
    private: true,
    type: spec.type,
    dependencies: { [manifest.name]: `file:${path.relative(spec.dir, spec.tarball)}` },
    devDependencies,
  };
  const packages: Record<string, unknown> = {
    '': { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies, devDependencies },
    [`node_modules/${manifest.name}`]: lockEntry(manifest, spec.tarball, spec.dir),
  };
  for (const { key, dir, manifest: m } of tree.values()) {
    const tarball = path.join(depsDir, `${key.replace(/[/@]/g, '_')}-${m.version}.tgz`);
    if (!existsSync(tarball)) packDir(dir, tarball);
    packages[key] = lockEntry(m, tarball, spec.dir);
  }
  const lock = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages,
  };
  writeFileSync(path.join(spec.dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(path.join(spec.dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
}
