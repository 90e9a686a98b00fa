/**
 * Loading the competitors. Agenda 6 and its MongoDB backend are ESM only, so they are loaded with a
 * real dynamic `import()` (which TypeScript, emitting CommonJS, would otherwise turn into
 * `require`). Optional packages are resolved from the project and from the directories listed in
 * `DROVER_BENCH_MODULES` (separated by the path delimiter), so a package not yet in
 * devDependencies can be tried from a scratch install.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Environment variable listing extra directories to resolve optional bench packages from. */
export const EXTRA_MODULES_ENV = 'DROVER_BENCH_MODULES';

// A dynamic import that tsc leaves alone (it rewrites `import()` to `require` for CommonJS).
const importEsm = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<unknown>;

function searchPaths(): string[] {
  const extra = (process.env[EXTRA_MODULES_ENV] ?? '').split(path.delimiter).filter(Boolean);
  return [process.cwd(), __dirname, ...extra];
}

/** The entry file of a package, or undefined when it is not installed anywhere we look. */
export function resolvePackage(name: string): string | undefined {
  try {
    return require.resolve(name, { paths: searchPaths() });
  } catch {
    return undefined;
  }
}

/** Imports a package (ESM or CommonJS) by name; throws a readable error when it is missing. */
export async function importPackage<T>(name: string): Promise<T> {
  const file = resolvePackage(name);
  if (!file) {
    throw new Error(
      `package ${name} is not installed (looked in the project and ${EXTRA_MODULES_ENV})`,
    );
  }
  return (await importEsm(pathToFileURL(file).href)) as T;
}

/** Version of an installed package, or "?" */
export function packageVersion(name: string): string {
  const entry = resolvePackage(name);
  if (!entry) return '?';
  // Walk up from the entry file to the package.json carrying this name.
  let dir = path.dirname(entry);
  for (;;) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pkg = require(path.join(dir, 'package.json')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version ?? '?';
    } catch {
      // no package.json here
    }
    const parent = path.dirname(dir);
    if (parent === dir) return '?';
    dir = parent;
  }
}
