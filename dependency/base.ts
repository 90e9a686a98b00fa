/**
 * Shared body of every manager that carries edges: edge bookkeeping, the edge decision and the
 * stored form. Subclasses add only their own condition, which is consulted once the edges allow.
 */
import { InvalidArgumentError } from '../lib/errors';
import type { StoredDependency } from '../lib/types';
import { evaluateEdges } from './edges';
import type {
  DependencyContext,
  DependencyDecision,
  DependencyManager,
  EdgeFailurePolicy,
} from './manager';
import { checkEdgeFailurePolicy, checkEdgeId, checkEdgeList } from './validate';

/** Edges and failure policy common to every manager's constructor. */
export interface EdgeOptions {
  /** IDs of jobs that must finish before this one is considered. Default none. */
  edges?: readonly string[];
  /** What a failed edge means for this job. Default `'fail'`. */
  onEdgeFailure?: EdgeFailurePolicy;
}

/** Base class of the managers with edges. */
export abstract class EdgeDependency implements DependencyManager {
  abstract readonly type: string;
  readonly onEdgeFailure: EdgeFailurePolicy;
  // A Set keeps insertion order (the stored order) and makes duplicate checks O(1).
  readonly #edges: Set<string>;

  protected constructor(options: EdgeOptions = {}) {
    this.#edges = new Set(checkEdgeList(options.edges ?? []));
    this.onEdgeFailure = checkEdgeFailurePolicy(options.onEdgeFailure);
  }

  /** @inheritdoc */
  edges(): string[] {
    return [...this.#edges];
  }

  /** @inheritdoc */
  addEdge(id: string): void {
    checkEdgeId(id);
    if (this.#edges.has(id))
      throw new InvalidArgumentError(`dependency edge ${id} was already added`);
    this.#edges.add(id);
  }

  /** Edges first; the manager's own condition only once every edge allows the job to run. */
  async state(ctx: DependencyContext): Promise<DependencyDecision> {
    const byEdges = await evaluateEdges([...this.#edges], this.onEdgeFailure, ctx);
    if (byEdges.state !== 'ready') return byEdges;
    const own = await this.ownState(ctx);
    // Keep the "ran despite failed edges" note when the manager itself had nothing to say.
    return own.reason === undefined && byEdges.reason !== undefined
      ? { ...own, reason: byEdges.reason }
      : own;
  }

  /** @inheritdoc */
  toStored(): StoredDependency {
    return {
      type: this.type,
      edges: this.edges(),
      options: this.storedOptions(),
      onEdgeFailure: this.onEdgeFailure,
    };
  }

  /** The manager's own condition, asked only when the edges allow the job to run. */
  protected abstract ownState(ctx: DependencyContext): Promise<DependencyDecision>;

  /** Manager-specific settings as plain data (a fresh copy on every call). */
  protected abstract storedOptions(): Record<string, unknown>;
}
