/**
 * The jobs collection module, its claim: the claim's filter, order and update, and the two ways
 * to apply them (a batch in two or three round trips; one by one, quarantining documents the
 * server refuses). The module is job-store.ts (the store class, which calls `claimJobs`),
 * job-store-admin.ts, job-filters.ts, job-indexes.ts and this file. Nothing else in drover reads
 * or writes job documents in MongoDB.
 */
import type { Collection, Filter, UpdateFilter } from 'mongodb';
import { MongoServerError } from 'mongodb';
import { applyClaim, type JobClaimParams } from '../job-store';
import type { JobDocument } from '../../types';
import { malformedQuarantine, nonce, unchangedFilter } from './job-filters';

type Doc = JobDocument;

/** Claims of this many or more use the batched three-step path instead of findOneAndUpdate. */
const BATCH_CLAIM_MIN = 3;

/**
 * The server refused a claim's write (not a network error); `claimId` names a failed batch and
 * `ids` its candidates (some of which the batch may have claimed before it failed).
 */
class ClaimWriteError extends Error {
  constructor(
    readonly claimId: string | null,
    readonly ids: string[],
    cause: MongoServerError,
  ) {
    super(cause.message, { cause });
  }
}

/** The claim filter; its shape is checked against CLAIM_INDEX by a test. */
export function claimFilter(
  params: Pick<JobClaimParams, 'queue' | 'now' | 'excludeTypes' | 'suspects'>,
): Filter<Doc> {
  const filter: Filter<Doc> = {
    queue: params.queue,
    state: 'pending',
    dueAt: { $lte: params.now },
    // Residual checks (not in the index), the complement of malformedFilters: a corrupted envelope
    // must not make the claim fail. `$type` also matches an array holding an element of the type
    // (`modCount: [1]`, `status: [{ modCount: 1 }]`), and no update can apply to those.
    status: { $not: { $type: 'array' } },
    'status.modCount': { $type: 'number', $not: { $type: 'array' } },
    timeInfo: { $type: 'object', $not: { $type: 'array' } },
  };
  if (params.excludeTypes && params.excludeTypes.length > 0) {
    // Not `type.name: { $nin }`: with it DocumentDB scans the index by type (every pending
    // attempt of the queue, due or not) instead of the claim's due range.
    filter.$nor = [{ 'type.name': { $in: params.excludeTypes } }];
  }
  // Residual too: suspects are rare (an attempt whose worker died while it ran).
  if (params.suspects === 'skip') filter['status.lockLosses'] = { $not: { $gt: 0 } };
  if (params.suspects === 'only') filter['status.lockLosses'] = { $gt: 0 };
  return filter;
}

/** The claim order; the claim index serves it. */
export const CLAIM_SORT = { priority: -1, dueAt: 1, _id: 1 } as const;

/**
 * The batched claim's update filter: the claim filter, and each candidate still unchanged (same
 * modCount; `unchangedFilter` says why it names them by `_id` twice: without it DocumentDB read
 * the claim index's whole due range, 835 keys for 16 candidates, in test/store/explain.test.ts).
 */
export function claimBatchFilter(
  filter: Filter<Doc>,
  candidates: Pick<Doc, '_id' | 'status'>[],
): Filter<Doc> {
  return {
    ...filter,
    ...unchangedFilter(candidates.map((c) => ({ id: c._id, modCount: c.status.modCount }))),
  };
}

/** The claim's update; `applyClaim` (lib/store/job-store.ts) sets the same fields on a document. */
export function claimUpdate(params: JobClaimParams, claimId: string): UpdateFilter<Doc> {
  return {
    $set: {
      'status.claimId': claimId,
      state: 'running',
      'status.owner': params.owner,
      'status.inProgress': true,
      'status.lockExpiresAt': new Date(params.now.getTime() + params.lockTimeoutMs),
      'status.modTime': params.now,
      'status.abortRequested': false,
      'timeInfo.start': params.now,
    },
    $inc: { 'status.modCount': 1 },
  };
}

/**
 * What the batched claim does not read of its candidates: what the claim itself decides (the
 * queue, the state, the abort flag and the modification time), about a fifth of a slim job.
 */
const CANDIDATE_PROJECTION = {
  queue: 0,
  state: 0,
  'status.abortRequested': 0,
  'status.modTime': 0,
} as const;

/** A candidate as the claim's update left it in the database (kept in step with claimUpdate). */
function claimed(doc: Doc, params: JobClaimParams, claimId: string): Doc {
  doc.queue = params.queue;
  doc.status.claimId = claimId;
  return applyClaim(doc, params);
}

/** Claims due pending attempts of a queue for an owner (JobStore.jobClaim). */
export async function claimJobs(jobs: Collection<Doc>, params: JobClaimParams): Promise<Doc[]> {
  try {
    return await claimBatch(jobs, params);
  } catch (err) {
    // A document the claim's update cannot apply to (a corrupted envelope) makes the server
    // refuse the whole write: claim one by one, quarantining what cannot be claimed, so one
    // bad document never stops a queue. Network errors go to the caller.
    if (!(err instanceof ClaimWriteError)) throw err;
    return claimOneByOne(jobs, params, err);
  }
}

/** The fast claim: one findOneAndUpdate per job for a few, else a batch in two or three round trips. */
async function claimBatch(jobs: Collection<Doc>, params: JobClaimParams): Promise<Doc[]> {
  const filter = claimFilter(params);
  if (params.limit < BATCH_CLAIM_MIN) {
    const claimed: Doc[] = [];
    for (let i = 0; i < params.limit; i++) {
      const doc = await jobs
        .findOneAndUpdate(filter, claimUpdate(params, nonce()), {
          sort: CLAIM_SORT,
          returnDocument: 'after',
        })
        .catch((err: unknown) => {
          throw err instanceof MongoServerError ? new ClaimWriteError(null, [], err) : err;
        });
      if (!doc) break;
      claimed.push(doc);
    }
    return claimed;
  }
  // Batched claim: read candidates through the index, flip those still pending and unchanged
  // (same modCount) in one updateMany, whose per-document update re-checks the filter. When
  // every candidate was won (no contention), the documents we read are ours with the claim
  // applied: two round trips. Otherwise read back exactly the ones we won.
  const readAt = performance.now();
  const candidates = await jobs
    .find(filter, { sort: CLAIM_SORT, limit: params.limit, projection: CANDIDATE_PROJECTION })
    .toArray();
  if (candidates.length === 0) return [];
  const claimId = nonce();
  if (params.lockFromUpdate) {
    // The lock runs from when the update is sent, not from before the read: on a slow link the
    // read's round trip would otherwise be taken out of the lock's time.
    const readMs = Math.round(performance.now() - readAt);
    params = { ...params, now: new Date(params.now.getTime() + readMs) };
  }
  const update = claimUpdate(params, claimId);
  const ids = candidates.map((c) => c._id);
  const res = await jobs
    .updateMany(claimBatchFilter(filter, candidates), update)
    .catch((err: unknown) => {
      throw err instanceof MongoServerError ? new ClaimWriteError(claimId, ids, err) : err;
    });
  if (res.modifiedCount === 0) return [];
  if (res.modifiedCount === candidates.length) {
    return candidates.map((c) => claimed(c, params, claimId));
  }
  const won = await jobs
    .find({
      _id: { $in: ids },
      state: 'running',
      'status.owner': params.owner,
      'status.claimId': claimId,
    })
    .toArray();
  const order = new Map(ids.map((id, i) => [id, i]));
  return won.sort((a, b) => (order.get(a._id) ?? 0) - (order.get(b._id) ?? 0));
}

/** The slow, safe claim (see claimJobs); also picks up what a failed batch already claimed. */
async function claimOneByOne(
  jobs: Collection<Doc>,
  params: JobClaimParams,
  failed: ClaimWriteError,
): Promise<Doc[]> {
  const filter = claimFilter(params);
  // By `_id` first: no index holds the claim nonce.
  const claimed: Doc[] = failed.claimId
    ? await jobs
        .find({ _id: { $in: failed.ids }, 'status.claimId': failed.claimId, state: 'running' })
        .toArray()
    : [];
  const candidates = await jobs
    .find(filter, {
      projection: { _id: 1 },
      sort: CLAIM_SORT,
      limit: Math.max(0, params.limit - claimed.length),
    })
    .toArray();
  for (const c of candidates) {
    try {
      const doc = await jobs.findOneAndUpdate(
        { ...filter, _id: c._id },
        claimUpdate(params, nonce()),
        { returnDocument: 'after' },
      );
      if (doc) claimed.push(doc);
    } catch (err) {
      if (!(err instanceof MongoServerError)) throw err;
      await jobs.updateOne(
        { _id: c._id, state: 'pending' },
        malformedQuarantine(`cannot be claimed: ${err.message}`, params.now),
      );
    }
  }
  return claimed;
}
