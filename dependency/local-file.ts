/**
 * Make's rule for local files: a job that builds `targets` from `sources` needs to run when a
 * target is missing or older than the newest source, and is `passed` (completed without running)
 * when every target is at least as new as every source. A missing source can never be made
 * by this job, so the dependency is `unresolved`. Edges are honoured first, so a source made by
 * another job is looked at only after that job completed.
 *
 * Equal modification times count as up to date, as in make. Paths are resolved on the worker
 * that evaluates the dependency.
 */
import type { DependencyDecision } from './manager';
import { EdgeDependency, type EdgeOptions } from './base';
import { statFile, type FileStat } from './file-stat';
import { checkPathList } from './validate';

/** Options of a {@link LocalFileDependency}. */
export interface LocalFileOptions extends EdgeOptions {
  /** Files the job produces; at least one. */
  targets: readonly string[];
  /** Files the targets are built from; may be empty (then existing targets are up to date). */
  sources?: readonly string[];
}

/** Make-style modification-time dependency. */
export class LocalFileDependency extends EdgeDependency {
  /** Stored type name. */
  static readonly TYPE = 'local-file';
  readonly type = LocalFileDependency.TYPE;
  readonly #targets: string[];
  readonly #sources: string[];

  constructor(options: LocalFileOptions) {
    super(options);
    this.#targets = checkPathList(options.targets, 'localFile targets', false);
    this.#sources = checkPathList(options.sources ?? [], 'localFile sources', true);
  }

  /** Files the job produces (a copy). */
  targets(): string[] {
    return [...this.#targets];
  }

  /** Files the targets are built from (a copy). */
  sources(): string[] {
    return [...this.#sources];
  }

  protected async ownState(): Promise<DependencyDecision> {
    const [sources, targets] = await Promise.all([
      Promise.all(this.#sources.map(statFile)),
      Promise.all(this.#targets.map(statFile)),
    ]);
    const trouble = [...sources, ...targets].find((f) => f.kind === 'error');
    if (trouble?.kind === 'error')
      return { state: 'blocked', reason: `cannot check ${trouble.path}: ${trouble.message}` };

    const missingSource = sources.find((f) => f.kind === 'missing');
    if (missingSource)
      return { state: 'unresolved', reason: `source ${missingSource.path} does not exist` };
    const missingTarget = targets.find((f) => f.kind === 'missing');
    if (missingTarget)
      return { state: 'ready', reason: `target ${missingTarget.path} does not exist` };

    const newestSource = extreme(sources, (a, b) => a > b);
    const oldestTarget = extreme(targets, (a, b) => a < b);
    if (newestSource && oldestTarget && oldestTarget.mtimeNs < newestSource.mtimeNs) {
      return {
        state: 'ready',
        reason: `target ${oldestTarget.path} is older than source ${newestSource.path}`,
      };
    }
    return { state: 'passed', reason: 'all targets are up to date' };
  }

  protected storedOptions(): Record<string, unknown> {
    return { targets: this.targets(), sources: this.sources() };
  }
}

type PresentFile = Extract<FileStat, { kind: 'present' }>;

/** The file whose mtime wins under `better`, or undefined for an empty list. */
function extreme(
  files: readonly FileStat[],
  better: (a: bigint, b: bigint) => boolean,
): PresentFile | undefined {
  let best: PresentFile | undefined;
  for (const f of files) {
    if (f.kind === 'present' && (best === undefined || better(f.mtimeNs, best.mtimeNs))) best = f;
  }
  return best;
}
