/**
 * The jobs collection module, its indexes (the module is job-store.ts, job-claim.ts,
 * job-store-admin.ts, job-filters.ts and this file). The queue name leads every index, so the
 * claim stays shard-friendly (a `queue`-prefixed shard key routes it to one shard) and a large
 * backlog in one queue never slows another.
 *
 * Designed for the writes of a job's life (put, claim, complete: issue 13). Each index holds
 * only the documents of the state its queries ask for (a partial index), and no index keys
 * `state` for every document: a state change then moves a key only in the index the document
 * leaves and the one it enters. A job's life writes 9 keys (put: `_id_`, `pending_claim`,
 * `pending_due`, `queue_type`; claim: out of the two pending ones, into `running_lock`;
 * complete: out of `running_lock`, into `finished_end`), where the former design (eight indexes,
 * six keyed on `state`) wrote 41. `test/store/index-keys.test.ts` counts them.
 *
 * Every query that wants a partial index repeats its filter: a planner uses a partial index only
 * when the query implies the filter (MongoDB and DocumentDB both check it; a range on dates
 * does not imply `$type: 'date'`, so such queries say it).
 *
 * Servers without partial indexes (mongo-java-server ignores the option) index every document:
 * correct, only larger.
 */
import { MongoServerError, type Collection, type Document, type IndexDescription } from 'mongodb';

/** The predicate of a dated field; queries on the partial indexes that require it repeat it. */
export const DATED = { $type: 'date' } as const;

/**
 * Serves the claim: pending attempts of a queue by priority, then due time. `dueAt` is in the
 * key, so the due range is read from index entries, never by fetching jobs that are not due.
 */
export const CLAIM_INDEX: IndexDescription = {
  name: 'pending_claim',
  key: { queue: 1, priority: -1, dueAt: 1, _id: 1 },
  partialFilterExpression: { state: 'pending' },
};

/**
 * Serves the process probe (job-probe.ts): the due pending attempts of idle queues, read as a
 * range on `dueAt` (the claim index cannot: its priority key comes first), and the malformed-
 * document probe. Only dated documents: queries must say `dueAt: { $type: 'date' }` (`DATED`)
 * to use it, so no planner takes it for the claim, which the claim index serves in its order.
 */
export const DUE_INDEX: IndexDescription = {
  name: 'pending_due',
  key: { queue: 1, dueAt: 1 },
  partialFilterExpression: { state: 'pending', dueAt: DATED },
};

/**
 * Finds running attempts whose lock went stale. It holds only running attempts (the fleet's
 * concurrency, not the backlog); a heartbeat moves its attempt's key here and nowhere else.
 */
export const STALE_INDEX: IndexDescription = {
  name: 'running_lock',
  key: { queue: 1, 'status.lockExpiresAt': 1 },
  partialFilterExpression: { state: 'running' },
};

/** Finds `retrying` attempts whose hand-over is unfinished (the retry monitor, by due time). */
export const RETRY_INDEX: IndexDescription = {
  name: 'retrying_due',
  key: { queue: 1, dueAt: 1 },
  partialFilterExpression: { state: 'retrying' },
};

/** Pages through a queue's blocked jobs in ID order (the dependencies' round robin). */
export const BLOCKED_INDEX: IndexDescription = {
  name: 'blocked_id',
  key: { queue: 1, _id: 1 },
  partialFilterExpression: { state: 'blocked' },
};

/** Finds the blocked dependents of a job that just finished; jobs never blocked hold no key. */
export const EDGES_INDEX: IndexDescription = {
  name: 'blocked_edges',
  key: { queue: 1, 'dependency.edges': 1 },
  partialFilterExpression: { state: 'blocked' },
};

/**
 * Finished attempts by state and end time: prunes, and lists of finished states. The store sets
 * `timeInfo.end` on every move to a finished state but quarantine (whose envelope may be
 * corrupt), so the finished states' queries say `timeInfo.end: { $type: 'date' }` and use it.
 */
export const ENDED_INDEX: IndexDescription = {
  name: 'finished_end',
  key: { queue: 1, state: 1, 'timeInfo.end': 1 },
  partialFilterExpression: { 'timeInfo.end': DATED },
};

/** Counts and lists by queue and type; never moves after the put. */
export const TYPE_INDEX: IndexDescription = {
  name: 'queue_type',
  key: { queue: 1, 'type.name': 1 },
};

/**
 * Serves followers (lib/group/job-follower.ts): attempts of a queue changed since a time. Every
 * write of a job moves its key (5 keys per job life), so it is not built with the others: the
 * first follower of a collection builds it (`MongoJobStore.jobChangedSince`), and a deployment
 * that follows no jobs never pays for it.
 */
export const CHANGED_INDEX: IndexDescription = {
  name: 'changed',
  key: { queue: 1, 'status.modTime': 1, _id: 1 },
};

/** The indexes built by `init`. */
export const JOB_INDEXES: IndexDescription[] = [
  CLAIM_INDEX,
  DUE_INDEX,
  STALE_INDEX,
  RETRY_INDEX,
  BLOCKED_INDEX,
  EDGES_INDEX,
  ENDED_INDEX,
  TYPE_INDEX,
];

/**
 * Indexes of earlier releases that these replace (they keyed `state` on every document), dropped
 * by `init` once the new ones are built. Idempotent: a missing one is skipped. `changed` is not
 * here: it is kept while a deployment follows jobs.
 */
export const RETIRED_JOB_INDEXES: readonly string[] = [
  'claim',
  'due',
  'stale',
  'type',
  'ended',
  'edges',
  'state_id',
];

/** MongoDB's code for an index that is not there (another process dropped it first). */
const INDEX_NOT_FOUND = 27;

/**
 * Builds the indexes of `JOB_INDEXES`, then drops the retired ones that are still there: the
 * upgrade step of the index design, run by every `init` (idempotent, and safe while processes of
 * an older release still run: their queries lose an index, never a result).
 */
export async function ensureJobIndexes<T extends Document>(jobs: Collection<T>): Promise<void> {
  await jobs.createIndexes(JOB_INDEXES);
  const present = new Set((await jobs.listIndexes().toArray()).map((i) => String(i.name)));
  for (const name of RETIRED_JOB_INDEXES) {
    if (!present.has(name)) continue;
    try {
      await jobs.dropIndex(name);
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === INDEX_NOT_FOUND)) throw err;
    }
  }
}
