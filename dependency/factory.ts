/**
 * Builds managers: from their stored form (any process, any time later) and from user code.
 * Both paths go through the managers' constructors, so a stored dependency is validated exactly
 * like a new one.
 */
import { InvalidArgumentError } from '../lib/errors';
import type { StoredDependency } from '../lib/types';
import { describe } from '../lib/validate';
import { AlwaysDependency } from './always';
import { CheckDependency, type CheckDependencyOptions } from './check';
import { CreatesFileDependency, type CreatesFileOptions } from './creates-file';
import { JobEdgesDependency } from './job-edges';
import { LocalFileDependency, type LocalFileOptions } from './local-file';
import type { DependencyManager, EdgeFailurePolicy } from './manager';
import { checkEdgeFailurePolicy, checkEdgeList, checkOnlyKeys, checkPlainObject } from './validate';

/** Stored type names of the built-in managers. */
export const DependencyType = {
  Always: AlwaysDependency.TYPE,
  JobEdges: JobEdgesDependency.TYPE,
  CreatesFile: CreatesFileDependency.TYPE,
  LocalFile: LocalFileDependency.TYPE,
  Check: CheckDependency.TYPE,
} as const;
export type DependencyType = (typeof DependencyType)[keyof typeof DependencyType];

/**
 * Rebuilds a manager from the form stored with its job.
 * @throws InvalidArgumentError for an unknown type or malformed edges or options; the caller
 * (the queue) decides whether that quarantines the job.
 */
export function dependencyFromStored(stored: StoredDependency): DependencyManager {
  try {
    return build(stored);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(
        `stored dependency of type ${describe(typeOf(stored))}: ${err.message}`,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

function build(raw: unknown): DependencyManager {
  // The document came from the database: trust no field, whatever the static type says.
  const stored = checkPlainObject(raw, 'dependency');
  const edges = checkEdgeList(stored.edges);
  const onEdgeFailure = checkEdgeFailurePolicy(stored.onEdgeFailure);
  const options = checkPlainObject(stored.options, 'options');
  // The casts below only hand values on: each constructor validates them at run time.
  switch (stored.type) {
    case DependencyType.Always:
      checkOnlyKeys(options, [], 'always');
      if (edges.length > 0) throw new InvalidArgumentError('an "always" dependency takes no edges');
      return new AlwaysDependency();
    case DependencyType.JobEdges:
      checkOnlyKeys(options, [], 'job-edges');
      return new JobEdgesDependency({ edges, onEdgeFailure });
    case DependencyType.CreatesFile:
      checkOnlyKeys(options, ['path'], 'creates-file');
      return new CreatesFileDependency(options.path as string, { edges, onEdgeFailure });
    case DependencyType.LocalFile:
      checkOnlyKeys(options, ['targets', 'sources'], 'local-file');
      return new LocalFileDependency({
        targets: options.targets as string[],
        sources: options.sources as string[] | undefined,
        edges,
        onEdgeFailure,
      });
    case DependencyType.Check:
      checkOnlyKeys(options, ['name', 'options'], 'check');
      return new CheckDependency(options.name as string, {
        options: options.options as Record<string, unknown> | undefined,
        edges,
        onEdgeFailure,
      });
    default:
      throw new InvalidArgumentError(`unknown dependency type ${describe(stored.type)}`);
  }
}

function typeOf(stored: unknown): unknown {
  return typeof stored === 'object' && stored !== null && 'type' in stored
    ? stored.type
    : undefined;
}

/** The default: no edges, always ready. */
export function always(): DependencyManager {
  return new AlwaysDependency();
}

/** Ready once every job in `ids` completed. A failed one fails this job, unless `onEdgeFailure: 'run'`. */
export function afterJobs(
  ids: readonly string[],
  options: { onEdgeFailure?: EdgeFailurePolicy } = {},
): DependencyManager {
  return new JobEdgesDependency({ edges: ids, onEdgeFailure: options.onEdgeFailure });
}

/** Passed (completed without running) when `path` already exists, else ready. */
export function createsFile(path: string, options: CreatesFileOptions = {}): DependencyManager {
  return new CreatesFileDependency(path, options);
}

/** Make-style: ready when a target is missing or older than the newest source, else passed. */
export function localFile(options: LocalFileOptions): DependencyManager {
  return new LocalFileDependency(options);
}

/** Decided by the check function registered under `name` (see `registerCheck`). */
export function check(name: string, options: CheckDependencyOptions = {}): DependencyManager {
  return new CheckDependency(name, options);
}
