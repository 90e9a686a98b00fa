/**
 * In-memory implementation of the job storage protocol, with the same fencing semantics as the
 * MongoDB store: for tests, for single-process use, and as the reference the behaviour suite
 * holds both to. Documents are cloned in and out so callers never share state with the store.
 */
import { EventEmitter } from 'node:events';
import { DuplicateJobError } from '../errors';
import type {
  AbortOutcome,
  JobClaimParams,
  JobHeartbeatParams,
  JobHeartbeatResult,
  JobCountRow,
  JobListParams,
  JobPageParams,
  JobStore,
  JobSummaryDocument,
  JobUpdate,
  JobWriteParams,
  LockToken,
  ReclaimParams,
} from '../store';
import { MAX_LOCK_LOSSES_DEFAULT } from '../store';
import {
  emptyQueueStats,
  HANDED_OVER_AT,
  JOB_STATES,
  type JobDocument,
  type JobState,
  type QueueStats,
} from '../types';
import type { JobChangedSinceParams, JobLatestState } from '../store';

type Doc = JobDocument;

function applyUpdate(doc: Doc, update: JobUpdate, now: Date): void {
  doc.status.modTime = now;
  if (update.state !== undefined) doc.state = update.state;
  if (update.payload !== undefined) doc.payload = structuredClone(update.payload);
  if (update.errors !== undefined) doc.status.errors = structuredClone(update.errors);
  if (update.errCount !== undefined) doc.status.errCount = update.errCount;
  if (update.progress !== undefined) doc.status.progress = update.progress;
  if (update.progressMessage !== undefined) doc.status.progressMessage = update.progressMessage;
  if (update.start !== undefined) doc.timeInfo.start = update.start;
  if (update.end !== undefined) doc.timeInfo.end = update.end;
  if (update.completed !== undefined) doc.status.completed = update.completed;
  if (update.inProgress !== undefined) doc.status.inProgress = update.inProgress;
  if (update.needsRetry !== undefined) doc.retryInfo.needsRetry = update.needsRetry;
  if (update.dueAt !== undefined) doc.dueAt = update.dueAt;
  if (update.lockExpiresAt !== undefined) doc.status.lockExpiresAt = update.lockExpiresAt;
  if (update.nextAttemptId !== undefined) doc.nextAttemptId = update.nextAttemptId;
  if (update.retryEnd !== undefined) doc.retryInfo.end = update.retryEnd;
  if (update.state !== undefined && update.state !== 'running') {
    doc.status.lockExpiresAt = null;
    doc.status.abortRequested = false;
  }
  if (update.releaseLock) doc.status.owner = '';
  doc.status.modCount += 1;
}

function holds(doc: Doc | undefined, token: LockToken): doc is Doc {
  return (
    doc !== undefined && doc.status.owner === token.owner && doc.status.modCount === token.modCount
  );
}

/** The envelope checks the MongoDB claim filter makes. */
function wellFormed(d: Doc): boolean {
  const status = d.status as unknown;
  const timeInfo = d.timeInfo as unknown;
  return (
    typeof status === 'object' &&
    status !== null &&
    typeof d.status.modCount === 'number' &&
    typeof timeInfo === 'object' &&
    timeInfo !== null &&
    d.dueAt instanceof Date
  );
}

/** Compares by claim order: priority descending, due time ascending, ID ascending. */
function claimOrder(a: Doc, b: Doc): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const t = a.dueAt.getTime() - b.dueAt.getTime();
  if (t !== 0) return t;
  return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
}

/** Job storage in a Map. */
export class MemoryJobStore implements JobStore {
  private readonly docs = new Map<string, Doc>();
  private readonly insertEvents = new EventEmitter().setMaxListeners(0);

  async init(): Promise<void> {}

  async jobInsert(docs: Doc[]): Promise<void> {
    const duplicates = docs.filter((d) => this.docs.has(d._id)).map((d) => d._id);
    const queues = new Set<string>();
    for (const d of docs) {
      if (this.docs.has(d._id)) continue;
      this.docs.set(d._id, structuredClone(d));
      queues.add(d.queue);
    }
    for (const q of queues) this.insertEvents.emit(q);
    if (duplicates.length > 0)
      throw new DuplicateJobError(duplicates[0], docs[0].queue, duplicates);
  }

  async jobGet(id: string): Promise<Doc | null> {
    const d = this.docs.get(id);
    return d ? structuredClone(d) : null;
  }

  private attemptsOf(baseJobId: string): Doc[] {
    return [...this.docs.values()]
      .filter((d) => d.retryInfo.baseJobId === baseJobId)
      .sort((a, b) => a.retryInfo.currentAttempt - b.retryInfo.currentAttempt);
  }

  async jobGetLatest(baseJobId: string): Promise<Doc | null> {
    const all = this.attemptsOf(baseJobId);
    return all.length ? structuredClone(all[all.length - 1]) : null;
  }

  async jobAttempts(baseJobId: string): Promise<Doc[]> {
    return structuredClone(this.attemptsOf(baseJobId));
  }

  async jobClaim(params: JobClaimParams): Promise<Doc[]> {
    const excluded = new Set(params.excludeTypes ?? []);
    const due = [...this.docs.values()]
      .filter(
        (d) =>
          d.queue === params.queue &&
          d.state === 'pending' &&
          wellFormed(d) &&
          d.dueAt <= params.now &&
          !excluded.has(d.type?.name),
      )
      .sort(claimOrder)
      .slice(0, params.limit);
    for (const d of due) {
      d.state = 'running';
      d.status.owner = params.owner;
      d.status.inProgress = true;
      d.status.lockExpiresAt = new Date(params.now.getTime() + params.lockTimeoutMs);
      d.status.modTime = params.now;
      d.status.abortRequested = false;
      d.timeInfo.start = params.now;
      d.status.modCount += 1;
    }
    return structuredClone(due);
  }

  async jobHeartbeat(params: JobHeartbeatParams): Promise<JobHeartbeatResult> {
    const result: JobHeartbeatResult = { lost: [], abortRequested: [] };
    for (const t of params.jobs) {
      const d = this.docs.get(t.id);
      if (!holds(d, t) || d.state !== 'running') {
        result.lost.push(t.id);
        continue;
      }
      // Jobs asked to abort keep their lock while they stop, so nobody runs them again meanwhile.
      d.status.lockExpiresAt = params.lockExpiresAt;
      if (d.status.abortRequested) result.abortRequested.push(t.id);
    }
    return result;
  }

  async jobWrite(params: JobWriteParams): Promise<number | null> {
    const d = this.docs.get(params.token.id);
    if (!holds(d, params.token)) return null;
    // A release never discards an abort request (as in the MongoDB store's guard).
    if (params.update.releaseLock && d.status.abortRequested) return null;
    applyUpdate(d, params.update, params.now);
    return d.status.modCount;
  }

  async jobWriteMany(writes: JobWriteParams[]): Promise<Set<string>> {
    const done = new Set<string>();
    for (const w of writes) if ((await this.jobWrite(w)) !== null) done.add(w.token.id);
    return done;
  }

  async jobTransition(params: {
    id: string;
    modCount: number;
    from: JobState[];
    update: JobUpdate;
    now: Date;
  }): Promise<number | null> {
    const d = this.docs.get(params.id);
    if (!d || d.status.modCount !== params.modCount || !params.from.includes(d.state)) return null;
    applyUpdate(d, params.update, params.now);
    return d.status.modCount;
  }

  async jobProgress(params: {
    token: LockToken;
    progress: number;
    message?: string;
    now: Date;
  }): Promise<boolean> {
    const d = this.docs.get(params.token.id);
    if (!holds(d, params.token) || d.state !== 'running') return false;
    d.status.progress = params.progress;
    if (params.message !== undefined) d.status.progressMessage = params.message;
    d.status.modTime = params.now;
    return true;
  }

  async jobReclaimStale(params: ReclaimParams): Promise<number> {
    const maxLockLosses = params.maxLockLosses ?? MAX_LOCK_LOSSES_DEFAULT;
    let n = 0;
    for (const d of this.docs.values()) {
      if (d.queue !== params.queue || d.state !== 'running') continue;
      if (!d.status.lockExpiresAt || d.status.lockExpiresAt >= params.now) continue;
      const abort = d.status.abortRequested;
      const losses = (d.status.lockLosses ?? 0) + 1;
      const poisoned = !abort && losses >= maxLockLosses;
      d.status.lockLosses = losses;
      d.state = abort ? 'aborted' : poisoned ? 'failed' : 'pending';
      if (abort || poisoned) d.timeInfo.end = params.now;
      d.status.owner = '';
      d.status.inProgress = false;
      d.status.lockExpiresAt = null;
      d.status.abortRequested = false;
      d.status.modTime = params.now;
      d.status.modCount += 1;
      d.status.errCount += 1;
      d.status.errors.push(
        poisoned
          ? {
              message: `lock lost ${maxLockLosses} times: its workers keep dying; failed to protect the pool`,
              code: 'DROVER_LOCK_LOST',
              at: params.now,
              retryable: false,
            }
          : abort
            ? {
                message: 'aborted on request; its owner stopped heartbeating',
                code: 'DROVER_ABORTED',
                at: params.now,
                retryable: false,
              }
            : {
                message: 'lock expired: owner stopped heartbeating',
                code: 'DROVER_LOCK_LOST',
                at: params.now,
                retryable: true,
              },
      );
      n++;
    }
    return n;
  }

  async jobRequestAbort(id: string, now: Date): Promise<AbortOutcome> {
    const d = this.docs.get(id);
    if (!d) return 'not-found';
    if (d.state === 'pending' || d.state === 'blocked') {
      d.state = 'aborted';
      d.timeInfo.end = now;
      d.status.modTime = now;
      d.status.modCount += 1;
      d.status.errCount += 1;
      d.status.errors.push({
        message: 'aborted before it started',
        code: 'DROVER_ABORTED',
        at: now,
        retryable: false,
      });
      return 'aborted';
    }
    if (d.state === 'running') {
      d.status.abortRequested = true;
      return 'requested';
    }
    return 'finished';
  }

  async jobQuarantine(params: {
    id: string;
    modCount: number;
    code: string;
    reason: string;
    now: Date;
  }): Promise<boolean> {
    const d = this.docs.get(params.id);
    if (!d || d.status.modCount !== params.modCount) return false;
    d.state = 'quarantined';
    d.quarantine = { code: params.code, reason: params.reason, at: params.now };
    d.status.owner = '';
    d.status.lockExpiresAt = null;
    d.status.inProgress = false;
    d.status.modTime = params.now;
    d.status.modCount += 1;
    return true;
  }

  async jobQuarantineMalformed(params: { queue: string; now: Date }): Promise<string[]> {
    const ids: string[] = [];
    for (const d of this.docs.values()) {
      if (d.queue !== params.queue || d.state !== 'pending' || wellFormed(d)) continue;
      d.state = 'quarantined';
      d.quarantine = {
        code: 'DROVER_MALFORMED_JOB',
        reason: 'envelope fields missing or of the wrong type',
        at: params.now,
      };
      ids.push(d._id);
    }
    return ids;
  }

  async jobStats(queue: string, now: Date): Promise<QueueStats> {
    const stats: QueueStats = emptyQueueStats(queue);
    for (const d of this.docs.values()) {
      if (d.queue !== queue) continue;
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
          (params.states === undefined || params.states.includes(d.state)) &&
          (params.type === undefined || d.type.name === params.type) &&
          (params.baseJobId === undefined || d.retryInfo.baseJobId === params.baseJobId) &&
          (params.edge === undefined || d.dependency.edges.includes(params.edge)) &&
          (params.dueBefore === undefined || d.dueAt <= params.dueBefore) &&
          (params.idContains === undefined || d._id.includes(params.idContains)) &&
          (params.afterId === undefined || d._id > params.afterId) &&
          (params.createdAfter === undefined || d.timeInfo.created >= params.createdAfter) &&
          (params.createdBefore === undefined || d.timeInfo.created < params.createdBefore),
      )
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .slice(0, params.limit);
    return structuredClone(out);
  }

  jobOnInsert(queue: string, listener: () => void): () => void {
    this.insertEvents.on(queue, listener);
    return () => this.insertEvents.off(queue, listener);
  }

  async close(): Promise<void> {}

  /** Test helper: replaces a stored document as-is (e.g. to simulate hand edits). */
  rawPut(doc: Doc): void {
    this.docs.set(doc._id, structuredClone(doc));
  }

  // --- management ---

  async jobCounts(params: { queue?: string; now: Date }): Promise<JobCountRow[]> {
    const rows = new Map<string, JobCountRow>();
    for (const d of this.docs.values()) {
      if (params.queue !== undefined && d.queue !== params.queue) continue;
      const row = { queue: String(d.queue ?? ''), type: String(d.type?.name ?? '') };
      const state = String(d.state ?? '') as JobState;
      const key = JSON.stringify([row.queue, row.type, state]);
      const r = rows.get(key) ?? { ...row, state, count: 0, due: 0 };
      r.count++;
      if (state === 'pending' && d.dueAt instanceof Date && d.dueAt <= params.now) r.due++;
      rows.set(key, r);
    }
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return [...rows.values()].sort(
      (a, b) => cmp(a.queue, b.queue) || cmp(a.type, b.type) || cmp(a.state, b.state),
    );
  }

  async jobPage(params: JobPageParams): Promise<JobSummaryDocument[]> {
    // Same semantics as the MongoDB filter: a missing creation time sorts as null (lowest).
    const created = (d: Doc): number | null =>
      d.timeInfo?.created instanceof Date ? d.timeInfo.created.getTime() : null;
    const after = params.after;
    const afterCreated = after?.created ? after.created.getTime() : null;
    const newestOrder = (a: Doc, b: Doc): number => {
      const ca = created(a) ?? -Infinity;
      const cb = created(b) ?? -Infinity;
      if (ca !== cb) return cb - ca;
      return a._id < b._id ? 1 : a._id > b._id ? -1 : 0;
    };
    const out = [...this.docs.values()]
      .filter((d) => {
        const c = created(d);
        if (params.queue !== undefined && d.queue !== params.queue) return false;
        if (params.states !== undefined && !params.states.includes(d.state)) return false;
        if (params.type !== undefined && d.type?.name !== params.type) return false;
        if (params.idContains !== undefined && !d._id.includes(params.idContains)) return false;
        if (params.createdAfter && (c === null || c < params.createdAfter.getTime())) return false;
        if (params.createdBefore && (c === null || c >= params.createdBefore.getTime()))
          return false;
        if (!after) return true;
        if (params.order === 'id') return d._id > after.id;
        if (afterCreated === null) return c === null && d._id < after.id;
        return c === null || c < afterCreated || (c === afterCreated && d._id < after.id);
      })
      .sort(
        params.order === 'id'
          ? (a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)
          : newestOrder,
      )
      .slice(0, params.limit)
      .map((d) => {
        const { payload: _payload, ...rest } = d;
        return rest;
      });
    return structuredClone(out);
  }

  async jobDelete(params: { id: string; modCount: number; from: JobState[] }): Promise<boolean> {
    const d = this.docs.get(params.id);
    if (!d || d.status?.modCount !== params.modCount || !params.from.includes(d.state)) {
      return false;
    }
    return this.docs.delete(params.id);
  }

  async jobPrune(params: {
    queue: string;
    endedBefore: Date;
    states: JobState[];
    limit: number;
  }): Promise<number> {
    let n = 0;
    for (const d of [...this.docs.values()]) {
      if (n >= params.limit) break;
      const end = d.timeInfo?.end;
      if (d.queue !== params.queue || !params.states.includes(d.state)) continue;
      if (!(end instanceof Date) || end >= params.endedBefore) continue;
      // A retrying attempt whose next attempt may not exist yet is the job's only record.
      if (d.state === 'retrying' && d.dueAt.getTime() !== HANDED_OVER_AT.getTime()) continue;
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
      .sort((a, b) => key(a) - key(b) || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .slice(0, params.limit)
      .map((d) => {
        const { payload: _payload, ...rest } = d;
        return rest;
      });
    return structuredClone(out);
  }

  async jobLatestStates(params: { queue: string; idPrefix: string }): Promise<JobLatestState[]> {
    const newest = new Map<string, JobLatestState>();
    for (const d of this.docs.values()) {
      const base = d.retryInfo.baseJobId;
      if (d.queue !== params.queue || !base.startsWith(params.idPrefix)) continue;
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
