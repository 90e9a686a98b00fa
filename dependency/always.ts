/**
 * The default manager: no edges, no condition; the job may always run. It is what a job without
 * a declared dependency stores (`{ type: 'always', edges: [], options: {} }`).
 */
import { InvalidArgumentError } from '../lib/errors';
import type { StoredDependency } from '../lib/types';
import type { DependencyDecision, DependencyManager, EdgeFailurePolicy } from './manager';

/** Always ready. Takes no edges: use `afterJobs()` for a job that waits for others. */
export class AlwaysDependency implements DependencyManager {
  /** Stored type name. */
  static readonly TYPE = 'always';
  readonly type = AlwaysDependency.TYPE;
  /** Fixed: with no edges there is nothing to fail. */
  readonly onEdgeFailure: EdgeFailurePolicy = 'fail';

  /** @inheritdoc */
  edges(): string[] {
    return [];
  }

  /**
   * Always throws: silently turning an "always" job into one that waits would change its type
   * behind the caller's back, so the caller must pick `afterJobs()` explicitly.
   */
  addEdge(id: string): void {
    throw new InvalidArgumentError(
      `an "always" dependency takes no edges (got ${id}); use afterJobs([...])`,
    );
  }

  /** @inheritdoc */
  state(): Promise<DependencyDecision> {
    return Promise.resolve({ state: 'ready' });
  }

  /** @inheritdoc */
  toStored(): StoredDependency {
    return { type: this.type, edges: [], options: {}, onEdgeFailure: this.onEdgeFailure };
  }
}
