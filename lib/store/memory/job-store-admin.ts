/**
 * The in-memory job store, its listing and management side: statistics, lists and pages, counts,
 * deletes and prunes, and the queries of the event followers, with the semantics of
 * lib/store/mongo/job-store-admin.ts. `MemoryJobStore` (job-store.ts) extends this class with the
 * claim-run-record path.
 */
import { copyOf } from './copy';
import {
  compareStrings,
  type JobChangedSinceParams,
  type JobCountParams,
  type JobCountRow,
  type JobLatestState,
  type JobListParams,
  type JobPageParams,
  type JobPruneParams,
  type JobSummaryDocument,
} from '../job-store';
import {
  emptyQueueStats,
  HANDED_OVER_AT,
  isCurrentAttempt,
  JOB_STATES,
  type JobDocument,
  type JobState,
  type QueueStats,
} from '../../types';

type Doc = JobDocument;

/**
 * A stored attempt as lists give it: without its payload and its log; `jobPage` leaves out its
 * result too (`keepResult` false), the change feed keeps it for the `completed` event.
 */
function withoutPayload(d: Doc, keepResult = true): JobSummaryDocument {
  const { payload: _payload, returnValue, ...rest } = d;
  const status = rest.status && typeof rest.status === 'object' ? { ...rest.status } : rest.status;
  if (status) delete status.log;
  const out: JobSummaryDocument = { ...rest, status };
  if (keepResult && returnValue !== undefined) out.returnValue = returnValue;
  return out;
}

/** Creation time in ms; null when missing (it sorts as null, lowest, as in MongoDB). */
function created(d: Doc): number | null {
  return d.timeInfo?.created instanceof Date ? d.timeInfo.created.getTime() : null;
}

const idOrder = (a: Doc, b: Doc): number => compareStrings(a._id, b._id);

/** Newest first by creation time (missing ones last), then by ID descending. */
function newestOrder(a: Doc, b: Doc): number {
  const ca = created(a) ?? -Infinity;
  const cb = created(b) ?? -Infinity;
  if (ca !== cb) return cb - ca;
  return compareStrings(b._id, a._id);
}

/** The filter of `jobPage` (selection and keyset position), as the MongoDB store's. */
function pagePredicate(params: JobPageParams): (d: Doc) => boolean {
  const { after, before } = params;
  const at = (p: { created: Date | null }) => (p.created ? p.created.getTime() : null);
  return (d) => {
    const c = created(d);
    if (params.queue !== undefined && d.queue !== params.queue) return false;
    if (params.states !== undefined && !params.states.includes(d.state)) return false;
    if (params.type !== undefined && d.type?.name !== params.type) return false;
    if (params.idContains !== undefined && !d._id.includes(params.idContains)) return false;
    if (params.createdAfter && (c === null || c < params.createdAfter.getTime())) return false;
    if (params.createdBefore && (c === null || c >= params.createdBefore.getTime())) return false;
    if (after) {
      if (params.order === 'id') return d._id > after.id;
      const ac = at(after);
      if (ac === null) return c === null && d._id < after.id;
      return c === null || c < ac || (c === ac && d._id < after.id);
    }
    if (before) {
      if (params.order === 'id') return d._id < before.id;
      const bc = at(before);
      if (bc === null) return c !== null || d._id > before.id;
      return c !== null && (c > bc || (c === bc && d._id > before.id));
    }
    return true;
  };
}

/** Whether `jobPrune` deletes `d`. */
function prunable(d: Doc, params: Omit<JobPruneParams, 'limit'>): boolean {
  const end = d.timeInfo?.end;
  if (d.queue !== params.queue || !params.states.includes(d.state)) return false;
  if (params.type !== undefined && d.type?.name !== params.type) return false;
  if (!(end instanceof Date) || end >= params.endedBefore) return false;
  // A retrying attempt whose next attempt may not exist yet is the job's only record.
  return d.state !== 'retrying' || d.dueAt.getTime() === HANDED_OVER_AT.getTime();
}

/** The listing and management queries of `MemoryJobStore`, over its documents. */
export abstract class MemoryJobStoreAdmin {
  /** Every stored attempt by ID; documents are cloned in and out. */
  protected readonly docs = new Map<string, Doc>();

  async jobStats(queue: string, now: Date): Promise<QueueStats> {
    const stats: QueueStats = emptyQueueStats(queue);
    for (const d of this.docs.values()) {
      if (d.queue !== queue || !isCurrentAttempt(d)) continue;
      stats.total++;
      if ((JOB_STATES as readonly string[]).includes(d.state)) stats[d.state]++;
      if (d.state === 'pending' && d.dueAt <= now) stats.due++;
    }
    return stats;
  }

  async jobList(params: JobListParams): Promise<Doc[]> {
    const out = [...this.docs.values()]
      .filter(
        (d) =>
          (params.queue === undefined || d.queue === params.queue) &&
          (params.queues === undefined || params.queues.includes(d.queue)) &&
          (params.states === undefined || params.states.includes(d.state)) &&
          (params.type === undefined || d.type?.name === params.type) &&
          (params.baseJobId === undefined || d.retryInfo?.baseJobId === params.baseJobId) &&
          (params.edge === undefined || d.dependency?.edges?.includes(params.edge)) &&
          (params.dueBefore === undefined || d.dueAt <= params.dueBefore) &&
          (params.idContains === undefined || d._id.includes(params.idContains)) &&
          (params.afterId === undefined || d._id > params.afterId) &&
          (params.createdAfter === undefined || d.timeInfo?.created >= params.createdAfter) &&
          (params.createdBefore === undefined || d.timeInfo?.created < params.createdBefore),
      )
      .sort((a, b) => compareStrings(a._id, b._id))
      .slice(0, params.limit);
    return copyOf(out);
  }

  // --- management ---

  async jobCounts(params: { queue?: string; now: Date }): Promise<JobCountRow[]> {
    const rows = new Map<string, JobCountRow>();
    for (const d of this.docs.values()) {
      if (params.queue !== undefined && d.queue !== params.queue) continue;
      if (!isCurrentAttempt(d)) continue;
      const row = { queue: String(d.queue ?? ''), type: String(d.type?.name ?? '') };
      const state = String(d.state ?? '') as JobState;
      const key = JSON.stringify([row.queue, row.type, state]);
      const r = rows.get(key) ?? { ...row, state, count: 0, due: 0 };
      r.count++;
      if (state === 'pending' && d.dueAt instanceof Date && d.dueAt <= params.now) r.due++;
      rows.set(key, r);
    }
    return [...rows.values()].sort(
      (a, b) =>
        compareStrings(a.queue, b.queue) ||
        compareStrings(a.type, b.type) ||
        compareStrings(a.state, b.state),
    );
  }

  async jobPage(params: JobPageParams): Promise<JobSummaryDocument[]> {
    const keep = pagePredicate(params);
    const backwards = params.before !== undefined;
    const order = params.order === 'id' ? idOrder : newestOrder;
    const out = [...this.docs.values()]
      .filter(keep)
      .sort(backwards ? (a, b) => order(b, a) : order)
      .slice(0, params.limit)
      .map((d) => withoutPayload(d, false));
    return copyOf(out);
  }

  async jobCount(params: JobCountParams): Promise<number> {
    const keep = pagePredicate({ ...params, order: 'id', limit: 0 });
    let n = 0;
    for (const d of this.docs.values()) if (keep(d)) n++;
    return n;
  }

  async jobPruneCount(params: Omit<JobPruneParams, 'limit'>): Promise<number> {
    let n = 0;
    for (const d of this.docs.values()) if (prunable(d, params)) n++;
    return n;
  }

  async jobDelete(params: { id: string; modCount: number; from: JobState[] }): Promise<boolean> {
    const d = this.docs.get(params.id);
    if (!d || d.status?.modCount !== params.modCount || !params.from.includes(d.state)) {
      return false;
    }
    return this.docs.delete(params.id);
  }

  async jobPrune(params: JobPruneParams): Promise<number> {
    let n = 0;
    for (const d of [...this.docs.values()]) {
      if (n >= params.limit) break;
      if (!prunable(d, params)) continue;
      this.docs.delete(d._id);
      n++;
    }
    return n;
  }

  async jobQueueNames(): Promise<string[]> {
    const names = new Set<string>();
    for (const d of this.docs.values()) if (typeof d.queue === 'string') names.add(d.queue);
    return [...names].sort();
  }

  // --- events ---

  async jobChangedSince(params: JobChangedSinceParams): Promise<JobSummaryDocument[]> {
    const t = params.after.modTime.getTime();
    const key = (d: Doc) => d.status.modTime.getTime();
    const out = [...this.docs.values()]
      .filter(
        (d) =>
          d.queue === params.queue &&
          d.status?.modTime instanceof Date &&
          (key(d) > t || (key(d) === t && d._id > params.after.id)),
      )
      .sort((a, b) => key(a) - key(b) || compareStrings(a._id, b._id))
      .slice(0, params.limit)
      .map((d) => withoutPayload(d));
    return copyOf(out);
  }

  async jobLatestStates(params: { queue: string; idPrefix: string }): Promise<JobLatestState[]> {
    const newest = new Map<string, JobLatestState>();
    for (const d of this.docs.values()) {
      const base = d.retryInfo?.baseJobId;
      if (
        d.queue !== params.queue ||
        typeof base !== 'string' ||
        !base.startsWith(params.idPrefix)
      ) {
        continue;
      }
      const seen = newest.get(base);
      if (seen && seen.attempt >= d.retryInfo.currentAttempt) continue;
      newest.set(base, {
        id: d._id,
        baseJobId: base,
        attempt: d.retryInfo.currentAttempt,
        state: d.state,
      });
    }
    return [...newest.values()];
  }
}
