/**
 * The jobs collection module, its indexes (the module is job-store.ts, job-claim.ts,
 * job-store-admin.ts, job-filters.ts and this file). The queue name leads every index, so the
 * claim stays shard-friendly (a `queue`-prefixed shard key routes it to one shard) and a large
 * backlog in one queue never slows another. `test/behaviour/indexes.test.ts` checks the claim's
 * filter and sort against these definitions.
 */
import type { IndexDescription } from 'mongodb';

/** Serves the claim: equality on queue and state, sort by priority then due time. */
export const CLAIM_INDEX: IndexDescription = {
  name: 'claim',
  key: { queue: 1, state: 1, priority: -1, dueAt: 1, _id: 1 },
};

/**
 * Serves the process probe (job-probe.ts): the due pending attempts of idle queues, read as a
 * range on `dueAt` (the claim index cannot: its priority key comes first), the unconfirmed
 * retries of the retry monitor, and the malformed-document probe. Partial, on dated documents:
 * only queries that say `dueAt: { $type: 'date' }` (see `DATED`) may use it, so a planner never
 * takes it for the claim, which the claim index serves in its order.
 */
export const DUE_INDEX: IndexDescription = {
  name: 'due',
  key: { queue: 1, state: 1, dueAt: 1 },
  partialFilterExpression: { dueAt: { $type: 'date' } },
};

/** The predicate of the due index's partial filter; a query on it must include it. */
export const DATED = { $type: 'date' } as const;

/** Finds running attempts whose lock went stale. */
export const STALE_INDEX: IndexDescription = {
  name: 'stale',
  key: { queue: 1, state: 1, 'status.lockExpiresAt': 1 },
};

/** Counts and lists by type, and prunes finished attempts by end time. */
export const TYPE_INDEX: IndexDescription = {
  name: 'type',
  key: { queue: 1, 'type.name': 1, state: 1 },
};
export const ENDED_INDEX: IndexDescription = {
  name: 'ended',
  key: { queue: 1, state: 1, 'timeInfo.end': 1 },
};

/** Finds the blocked dependents of a job that just finished. */
export const EDGES_INDEX: IndexDescription = {
  name: 'edges',
  key: { queue: 1, state: 1, 'dependency.edges': 1 },
};

/** Pages through one state of a queue in ID order (blocked-job scans, management lists). */
export const STATE_ID_INDEX: IndexDescription = {
  name: 'state_id',
  key: { queue: 1, state: 1, _id: 1 },
};

/** Serves followers (lib/group/job-follower.ts): attempts of a queue changed since a time. */
export const CHANGED_INDEX: IndexDescription = {
  name: 'changed',
  key: { queue: 1, 'status.modTime': 1, _id: 1 },
};

export const JOB_INDEXES: IndexDescription[] = [
  CHANGED_INDEX,
  STATE_ID_INDEX,
  EDGES_INDEX,
  CLAIM_INDEX,
  DUE_INDEX,
  STALE_INDEX,
  TYPE_INDEX,
  ENDED_INDEX,
];
