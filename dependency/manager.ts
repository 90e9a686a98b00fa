/**
 * The dependency-manager contract: what a job waits for before it may run, and how that is
 * decided. A manager is stored with its job (`StoredDependency`) and rebuilt by the factory in
 * whichever process evaluates it, so its decision may depend only on its stored data and on the
 * context the queue hands it.
 */
import type { JobState, StoredDependency } from '../lib/types';
import type { CheckRegistry } from './check-registry';

export { DEPENDENCY_STATES, isDependencyState, type DependencyState } from './decision-states';
import type { DependencyState } from './decision-states';

/** What happens to a dependent when one of its edge jobs ends without completing. */
export type EdgeFailurePolicy = StoredDependency['onEdgeFailure'];

/** State of an edge as seen by a manager: a job state, or `missing` when no such job exists. */
export type EdgeState = JobState | 'missing';

/** A manager's answer, with a human-readable reason for logs, stats and the job's error record. */
export interface DependencyDecision {
  state: DependencyState;
  /** Why; set for every answer but the trivial ones. */
  reason?: string;
  /**
   * Set when the answer is `unresolved` because of an edge, so the queue can build a
   * `DependencyFailedError(jobId, edge.id, edge.state)` without parsing `reason`.
   */
  edge?: { id: string; state: EdgeState };
}

/** What the queue gives a manager to decide with. */
export interface DependencyContext {
  /**
   * States of the given edge jobs, read from the newest attempt of each; `undefined` (or no
   * entry) means no such job exists. Called at most once per decision, with every edge at once,
   * and not at all when the manager has no edges.
   */
  edgeStates(ids: string[]): Promise<Map<string, JobState | undefined>>;
  /** The time of the decision, handed to check functions. */
  now: Date;
  /** Where `check` managers look up their functions. */
  checks: CheckRegistry;
}

/** Decides whether a job may run. Implementations live in this folder, one per file. */
export interface DependencyManager {
  /** Stored type name, the key the factory rebuilds the manager by. */
  readonly type: string;
  /** What an edge that ends failed, aborted, expired or quarantined means for the dependent. */
  readonly onEdgeFailure: EdgeFailurePolicy;
  /** IDs of the jobs that must finish first (a copy). */
  edges(): string[];
  /**
   * Adds a job ID that must finish first.
   * @throws InvalidArgumentError for a bad or duplicate ID, or a manager that takes no edges.
   */
  addEdge(id: string): void;
  /** Decides, for now, whether the job may run. Never throws for a decision it can express. */
  state(ctx: DependencyContext): Promise<DependencyDecision>;
  /** The form stored with the job; plain data, safe to mutate. */
  toStored(): StoredDependency;
}
