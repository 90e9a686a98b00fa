/**
 * How the states of edge jobs combine into one decision. Every manager with edges uses this
 * first, so "wait for these jobs" means the same thing whatever else a manager checks.
 */
import type { JobState } from '../lib/types';
import type {
  DependencyContext,
  DependencyDecision,
  EdgeFailurePolicy,
  EdgeState,
} from './manager';

/** What one edge's state means for its dependent. */
export type EdgeOutcome = 'done' | 'waiting' | 'failed';

/** Classifies a job state; exhaustive, so a new job state fails to compile until placed here. */
export function classifyEdgeState(state: JobState): EdgeOutcome {
  switch (state) {
    case 'completed':
      return 'done';
    case 'pending':
    case 'blocked':
    case 'running':
    // The newest attempt is `retrying` only until its next attempt exists: still in flight.
    case 'retrying':
      return 'waiting';
    case 'failed':
    case 'aborted':
    case 'expired':
    case 'quarantined':
      return 'failed';
    default: {
      const unknownState: never = state;
      return unknownState;
    }
  }
}

/** Edges listed by name in a "blocked" reason before the rest are only counted. */
const LISTED_EDGES = 5;

/**
 * Decides on edges alone:
 * - a missing edge, or a failed one under policy `fail`, makes the dependent `unresolved` (the
 *   first such edge in edge order is reported, so the answer is deterministic);
 * - otherwise any edge still in flight makes it `blocked`;
 * - otherwise it is `ready` (failed edges count as done under policy `run`).
 *
 * A missing edge is `unresolved` even under `run`: a mistyped ID should fail loudly, not run.
 */
export async function evaluateEdges(
  edges: readonly string[],
  policy: EdgeFailurePolicy,
  ctx: DependencyContext,
): Promise<DependencyDecision> {
  // No round trip for the common case of a job without edges.
  if (edges.length === 0) return { state: 'ready' };
  const states = await ctx.edgeStates([...edges]);
  const waiting: string[] = [];
  const failedButRun: string[] = [];
  for (const id of edges) {
    const state: EdgeState = states.get(id) ?? 'missing';
    if (state === 'missing') {
      return {
        state: 'unresolved',
        reason: `dependency ${id} does not exist`,
        edge: { id, state },
      };
    }
    const outcome = classifyEdgeState(state);
    if (outcome === 'failed') {
      if (policy === 'fail') {
        return {
          state: 'unresolved',
          reason: `dependency ${id} ended ${state}`,
          edge: { id, state },
        };
      }
      failedButRun.push(`${id} (${state})`);
    } else if (outcome === 'waiting') {
      waiting.push(`${id} (${state})`);
    }
  }
  if (waiting.length > 0) {
    const listed = waiting.slice(0, LISTED_EDGES).join(', ');
    const more = waiting.length > LISTED_EDGES ? ` and ${waiting.length - LISTED_EDGES} more` : '';
    return {
      state: 'blocked',
      reason: `waiting for ${waiting.length} of ${edges.length} dependencies: ${listed}${more}`,
    };
  }
  if (failedButRun.length > 0) {
    return {
      state: 'ready',
      reason: `dependencies ended without completing, running anyway (onEdgeFailure: run): ${failedButRun.join(', ')}`,
    };
  }
  return { state: 'ready' };
}
