/**
 * Scope locks of jobs that a management action ended or deleted. Such jobs end without any queue
 * extension running, so the locks they hold (enqueue scopes from put, dispatch scopes and
 * concurrency-key slots of an attempt) would stay until a contender takes them over; a deleted
 * singleton would even keep out new puts for the insert grace. The actions give them back here.
 *
 * Only locks that are still the job's are deleted: the job's locks are read (by queue and
 * holder), then deleted by their acquisition tokens, so a lock that changed hands meanwhile is
 * kept. Enqueue locks go only when the job has ended in a release state or is gone (the rule a
 * contender's takeover follows); dispatch locks and slots only for the attempts the action ended.
 */
import { isFinal } from '../../states';
import type { ScopeLockDocument, ScopeReleaseFilter, ScopeStore } from '../../store/scope-store';
import type { JobStore } from '../../store/job-store';

/** What to give back: the locks of job `baseJobId` in `queue`. */
export interface JobLockRelease {
  queue: string;
  baseJobId: string;
  /** Attempts the action ended or deleted: their dispatch locks and slots are released. */
  attemptIds: string[];
}

/** The stores the release works with. */
export interface JobLockStores {
  jobs: JobStore;
  scopes: ScopeStore;
}

/** A filter deleting exactly these acquisitions of `holder`'s locks. */
function exactly(locks: ScopeLockDocument[], holder: string): ScopeReleaseFilter {
  return {
    ids: locks.map((l) => l._id),
    tokens: [...new Set(locks.map((l) => l.token))],
    holder,
  };
}

/** Gives back the scope locks of jobs ended or deleted by management. */
export class JobLocks {
  constructor(private readonly stores: JobLockStores) {}

  /** Releases what `params` names (see the module comment); returns how many locks went. */
  async release(params: JobLockRelease): Promise<number> {
    const { queue, baseJobId } = params;
    const held = await this.stores.scopes.scopeList({ queue, holder: baseJobId });
    if (held.length === 0) return 0;
    const dispatch = held.filter(
      (l) => l.kind === 'dispatch' && params.attemptIds.includes(l.attemptId),
    );
    let enqueue = held.filter((l) => l.kind === 'enqueue');
    if (enqueue.length > 0) {
      // Read after the action: a new attempt made meanwhile (a requeue) keeps the job's scopes.
      const latest = await this.stores.jobs.jobGetLatest(baseJobId);
      if (latest && !isFinal(latest.state)) enqueue = [];
    }
    const filters: ScopeReleaseFilter[] = [];
    if (dispatch.length > 0) filters.push({ ...exactly(dispatch, baseJobId), kind: 'dispatch' });
    if (enqueue.length > 0) filters.push({ ...exactly(enqueue, baseJobId), kind: 'enqueue' });
    return filters.length === 0 ? 0 : this.stores.scopes.scopeRelease(filters);
  }
}
