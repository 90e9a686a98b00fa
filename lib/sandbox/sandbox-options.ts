/**
 * How a job type asks to run in a sandbox (`@JobType(name, { sandbox })`), resolved and checked
 * when the class is registered. A leaf module: the registry imports it, the sandbox pool
 * (sandboxes.ts) reads the resolved form.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../errors';
import { checkNumber, describe } from '../validate';

/** Where a sandboxed job runs: a worker thread, or a child process (`child_process.fork`). */
export type SandboxMode = 'thread' | 'process';

/** After an abort (by ID, max time, shutdown), a sandboxed job gets this long to return. */
export const SANDBOX_KILL_AFTER_MS_DEFAULT = 1_000;
export const SANDBOX_KILL_AFTER_MS_MAX = 600_000;
/** Bounds of a sandbox's heap limit. */
export const SANDBOX_MAX_OLD_SPACE_MB_MIN = 16;
export const SANDBOX_MAX_OLD_SPACE_MB_MAX = 65_536;

/**
 * Runs every job of a type apart from the worker: in a worker thread or a child process taken
 * from a small pool, reused from job to job. A job that blocks its event loop, calls
 * `process.exit`, crashes or runs out of memory takes only its sandbox down; the sandbox is
 * replaced, the attempt records a typed error and the job's retry policy decides what follows.
 * @example
 * ```ts
 * @JobType('render-pdf', { sandbox: { mode: 'process', module: __filename, maxOldSpaceMb: 256 } })
 * class RenderPdf extends BaseJob { ... }
 * ```
 */
export interface SandboxOptions {
  /** 'thread' (worker_threads: cheaper) or 'process' (child process: a separate V8 and libuv). */
  mode: SandboxMode;
  /**
   * The module that registers the job class when loaded (its `@JobType` runs at import): an
   * absolute path (`__filename` in CommonJS) or a file URL (`import.meta.url` in an ES module).
   * The sandbox imports it, so it should define job classes and not start workers at import.
   */
  module: string;
  /**
   * Heap limit of each sandbox in MiB: `--max-old-space-size` of a process, the
   * `maxOldGenerationSizeMb` resource limit of a thread. Default: Node's own.
   */
  maxOldSpaceMb?: number;
  /**
   * After an abort (by ID, `maxTimeMs`, shutdown), how long the job may take to return before its
   * sandbox is killed, in ms. Default `SANDBOX_KILL_AFTER_MS_DEFAULT`; 0 kills at once.
   */
  killAfterMs?: number;
}

/** Sandbox options with every field resolved; `module` as a file URL. */
export interface ResolvedSandboxOptions {
  mode: SandboxMode;
  module: string;
  maxOldSpaceMb: number | null;
  killAfterMs: number;
  /** Sandboxes of the same key are interchangeable (one pool per key and queue). */
  key: string;
}

/** Copies, defaults and checks sandbox options; InvalidArgumentError names the bad field. */
export function resolveSandboxOptions(typeName: string, o: SandboxOptions): ResolvedSandboxOptions {
  const fail = (what: string): never => {
    throw new InvalidArgumentError(`job type "${typeName}": sandbox ${what}`);
  };
  if (typeof o !== 'object' || o === null) fail('must be an object');
  if (o.mode !== 'thread' && o.mode !== 'process') {
    fail(`mode must be 'thread' or 'process', got ${describe(o.mode)}`);
  }
  const moduleHref = moduleUrl(o.module) ?? fail(`module must be an absolute path or a file URL`);
  const maxOldSpaceMb =
    o.maxOldSpaceMb === undefined
      ? null
      : Math.floor(
          checkNumber(
            'sandbox.maxOldSpaceMb',
            o.maxOldSpaceMb,
            SANDBOX_MAX_OLD_SPACE_MB_MIN,
            SANDBOX_MAX_OLD_SPACE_MB_MAX,
          ),
        );
  const killAfterMs = checkNumber(
    'sandbox.killAfterMs',
    o.killAfterMs ?? SANDBOX_KILL_AFTER_MS_DEFAULT,
    0,
    SANDBOX_KILL_AFTER_MS_MAX,
  );
  return {
    mode: o.mode,
    module: moduleHref,
    maxOldSpaceMb,
    killAfterMs,
    key: `${o.mode}|${maxOldSpaceMb ?? ''}|${moduleHref}`,
  };
}

/** A file URL for an absolute path or a file URL; undefined for anything else. */
function moduleUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.startsWith('file:')) {
    try {
      return pathToFileURL(fileURLToPath(value)).href;
    } catch {
      return undefined;
    }
  }
  return path.isAbsolute(value) ? pathToFileURL(value).href : undefined;
}
