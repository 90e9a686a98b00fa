/**
 * Waits for other jobs: ready once every edge job completed (see `evaluateEdges` for failures
 * and missing jobs). No condition of its own.
 */
import type { DependencyDecision } from './manager';
import { EdgeDependency, type EdgeOptions } from './base';

/** Options of a {@link JobEdgesDependency}. */
export type JobEdgesOptions = EdgeOptions;

/** Ready when all edge jobs have completed. */
export class JobEdgesDependency extends EdgeDependency {
  /** Stored type name. */
  static readonly TYPE = 'job-edges';
  readonly type = JobEdgesDependency.TYPE;

  constructor(options: JobEdgesOptions = {}) {
    super(options);
  }

  protected ownState(): Promise<DependencyDecision> {
    return Promise.resolve({ state: 'ready' });
  }

  protected storedOptions(): Record<string, unknown> {
    return {};
  }
}
