/**
 * In-memory implementation of the job storage protocol, with the same fencing semantics as the
 * MongoDB store: for tests, for single-process use, and as the reference the behaviour suite
 * holds both to. Documents are cloned in and out so callers never share state with the store.
 * Listing and management queries are in the base class (job-store-admin.ts), as in lib/store/mongo/.
 */
import { copyOf } from './copy';
import { EventEmitter } from 'node:events';
import { DuplicateJobError, ErrorCode } from '../../errors';
import { systemClock } from '../../timers/clock';
import {
  applyClaim,
  MAX_LOCK_LOSSES_DEFAULT,
  storeRecords,
  type AbortOutcome,
  type JobClaimParams,
  type JobHeartbeatParams,
  type JobHeartbeatResult,
  type JobProgressParams,
  type JobQuarantineParams,
  type JobStore,
  type JobHandOverParams,
  type JobHandOverResult,
  type JobTransitionParams,
  checkTransition,
  endOfWrite,
  type JobUpdate,
  type JobWriteParams,
  type LockToken,
  type ReclaimParams,
  type SessionOptions,
} from '../job-store';
import { isSuspect, type JobProbeParams, type JobProbeResult } from '../job-probe';
import type { JobDocument } from '../../types';
import { withJobDefaults } from '../../job-document';
import { MemoryJobStoreAdmin } from './job-store-admin';
import { PendingOrder } from './pending-order';
import { refuseSession, sessionRefusal } from './sessions';

type Doc = JobDocument;

function applyUpdate(doc: Doc, update: JobUpdate, now: Date): void {
  doc.status.modTime = now;
  if (update.state !== undefined) doc.state = update.state;
  if (update.payload !== undefined) doc.payload = copyOf(update.payload);
  if (update.errors !== undefined) doc.status.errors = copyOf(update.errors);
  if (update.errCount !== undefined) doc.status.errCount = update.errCount;
  if (update.progress !== undefined) doc.status.progress = update.progress;
  if (update.progressMessage !== undefined) doc.status.progressMessage = update.progressMessage;
  if (update.start !== undefined) doc.timeInfo.start = update.start;
  const end = endOfWrite(update, now);
  if (end !== undefined) doc.timeInfo.end = end;
  if (update.completed !== undefined) doc.status.completed = update.completed;
  if (update.inProgress !== undefined) doc.status.inProgress = update.inProgress;
  if (update.needsRetry !== undefined) doc.retryInfo.needsRetry = update.needsRetry;
  if (update.dueAt !== undefined) doc.dueAt = update.dueAt;
  if (update.lockExpiresAt !== undefined) doc.status.lockExpiresAt = update.lockExpiresAt;
  if (update.nextAttemptId !== undefined) doc.nextAttemptId = update.nextAttemptId;
  if (update.retryEnd !== undefined) doc.retryInfo.end = update.retryEnd;
  if (update.log !== undefined) doc.status.log = copyOf(update.log);
  if (update.logDropped !== undefined) doc.status.logDropped = update.logDropped;
  if (update.returnValue !== undefined) doc.returnValue = copyOf(update.returnValue);
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

/** The envelope checks the MongoDB claim filter makes (an array is not an object there). */
function wellFormed(d: Doc): boolean {
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  return (
    isObject(d.status) &&
    typeof d.status.modCount === 'number' &&
    isObject(d.timeInfo) &&
    d.dueAt instanceof Date
  );
}

/** Job storage in a Map: inserts, reads, the claim-run-record path and reclaims. */
export class MemoryJobStore extends MemoryJobStoreAdmin implements JobStore {
  private readonly insertEvents = new EventEmitter().setMaxListeners(0);
  /** One process: its own clock is the only one. */
  readonly clock = systemClock;
  /** The documents that may be pending, per queue in claim order (the claim's index). */
  private readonly pending = new PendingOrder();

  async init(): Promise<void> {}

  async jobInsert(docs: Doc[], options?: SessionOptions): Promise<void> {
    refuseSession(options);
    this.insert(docs);
  }

  /** Inserts at once (no await: nothing runs between the checks and the writes). */
  private insert(docs: Doc[]): void {
    // An ID already stored, or given earlier in the batch, is a duplicate (as a unique index says).
    const duplicates: string[] = [];
    const queues = new Set<string>();
    for (const d of docs) {
      if (this.docs.has(d._id)) {
        duplicates.push(d._id);
        continue;
      }
      // Kept full: a field a document leaves out reads as its default, as in MongoDB.
      const stored = withJobDefaults(copyOf(d));
      this.docs.set(d._id, stored);
      this.pending.note(stored);
      queues.add(d.queue);
    }
    for (const q of queues) this.insertEvents.emit(q);
    if (duplicates.length > 0)
      throw new DuplicateJobError(duplicates[0], docs[0].queue, duplicates);
  }

  async jobGet(id: string, options?: SessionOptions): Promise<Doc | null> {
    refuseSession(options);
    const d = this.docs.get(id);
    return d ? copyOf(d) : null;
  }

  private attemptsOf(baseJobId: string): Doc[] {
    return [...this.docs.values()]
      .filter((d) => d.retryInfo.baseJobId === baseJobId)
      .sort((a, b) => a.retryInfo.currentAttempt - b.retryInfo.currentAttempt);
  }

  async jobGetLatest(baseJobId: string, options?: SessionOptions): Promise<Doc | null> {
    refuseSession(options);
    const all = this.attemptsOf(baseJobId);
    return all.length ? copyOf(all[all.length - 1]) : null;
  }

  async jobAttempts(baseJobId: string): Promise<Doc[]> {
    return copyOf(this.attemptsOf(baseJobId));
  }

  async jobClaim(params: JobClaimParams): Promise<Doc[]> {
    const excluded = new Set(params.excludeTypes ?? []);
    const suspects = (d: Doc) =>
      params.suspects === undefined || isSuspect(d) === (params.suspects === 'only');
    const claimed: Doc[] = [];
    if (params.limit <= 0) return claimed;
    this.pending.walk(params.queue, this.docs, (d) => {
      if (wellFormed(d) && d.dueAt <= params.now && !excluded.has(d.type?.name) && suspects(d)) {
        // Claimed at once: a second entry of the same document then finds it running.
        claimed.push(applyClaim(d, params));
      }
      return claimed.length < params.limit;
    });
    return copyOf(claimed);
  }

  async jobProbe(params: JobProbeParams): Promise<JobProbeResult> {
    const due = new Set<string>();
    const suspects = new Set<string>();
    const stale = new Set<string>();
    const malformed = new Set<string>();
    const dueIn = new Set(params.dueIn);
    const staleIn = new Set(params.staleIn);
    for (const d of this.docs.values()) {
      if (d.state === 'running' && staleIn.has(d.queue)) {
        if (d.status.lockExpiresAt && d.status.lockExpiresAt < params.now) stale.add(d.queue);
      } else if (d.state === 'pending' && !(d.dueAt instanceof Date)) {
        if (staleIn.has(d.queue)) malformed.add(d.queue);
      } else if (d.state === 'pending' && dueIn.has(d.queue) && d.dueAt <= params.now) {
        (isSuspect(d) ? suspects : due).add(d.queue);
      }
    }
    return { due: [...due], suspects: [...suspects], stale: [...stale], malformed: [...malformed] };
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
      // A heartbeat never moves a lock back (one sent earlier may arrive later).
      if (!d.status.lockExpiresAt || d.status.lockExpiresAt < params.lockExpiresAt) {
        d.status.lockExpiresAt = params.lockExpiresAt;
      }
      if (d.status.abortRequested) result.abortRequested.push(t.id);
    }
    return result;
  }

  async jobWrite(params: JobWriteParams, options?: SessionOptions): Promise<number | null> {
    refuseSession(options);
    return this.writeHeld(params);
  }

  private writeHeld(params: JobWriteParams): number | null {
    const d = this.docs.get(params.token.id);
    if (!holds(d, params.token)) return null;
    // A release never discards an abort request (as in the MongoDB store's guard).
    if (params.update.releaseLock && d.status.abortRequested) return null;
    this.update(d, params.update, params.now);
    return d.status.modCount;
  }

  /** Applies a guarded write that matched; a document it leaves pending joins the claim index. */
  private update(d: Doc, update: JobUpdate, now: Date): void {
    applyUpdate(d, update, now);
    this.pending.note(d);
  }

  async jobWriteMany(writes: JobWriteParams[]): Promise<Set<string>> {
    const done = new Set<string>();
    for (const w of writes) if ((await this.jobWrite(w)) !== null) done.add(w.token.id);
    return done;
  }

  async jobTransition(
    params: JobTransitionParams,
    options?: SessionOptions,
  ): Promise<number | null> {
    refuseSession(options);
    return this.transition(params);
  }

  private transition(params: JobTransitionParams): number | null {
    checkTransition(params);
    const d = this.docs.get(params.id);
    if (!d || d.status.modCount !== params.modCount || !params.from.includes(d.state)) return null;
    this.update(d, params.update, params.now);
    return d.status.modCount;
  }

  /** One step: the write and the insert happen with nothing in between (no await). */
  async jobHandOver(params: JobHandOverParams): Promise<JobHandOverResult> {
    const { guard, update, next, now } = params;
    // Checked before the write, so that a duplicate cannot leave the write done alone.
    const inserted = !this.docs.has(next._id);
    const modCount =
      'token' in guard
        ? this.writeHeld({ token: guard.token, update, now })
        : this.transition({ ...guard, update, now });
    if (modCount === null) return { atomic: true, modCount, inserted: false };
    if (inserted) this.insert([next]);
    return { atomic: true, modCount, inserted };
  }

  async jobProgress(params: JobProgressParams): Promise<boolean> {
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
      this.pending.note(d);
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
          ? storeRecords.poisoned(params.now, maxLockLosses)
          : abort
            ? storeRecords.abortedStale(params.now)
            : storeRecords.lockExpired(params.now),
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
      d.status.errors.push(storeRecords.abortedBeforeStart(now));
      return 'aborted';
    }
    if (d.state === 'running') {
      d.status.abortRequested = true;
      return 'requested';
    }
    return 'finished';
  }

  async jobQuarantine(params: JobQuarantineParams): Promise<boolean> {
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
      // As the MongoDB store's index-served probe: due documents, or no date at all.
      if (d.dueAt instanceof Date && d.dueAt > params.now) continue;
      d.state = 'quarantined';
      d.quarantine = {
        code: ErrorCode.MalformedJob,
        reason: storeRecords.malformedReason,
        at: params.now,
      };
      ids.push(d._id);
    }
    return ids;
  }

  jobOnInsert(queue: string, listener: () => void): () => void {
    this.insertEvents.on(queue, listener);
    return () => this.insertEvents.off(queue, listener);
  }

  async sessionCheck(_session: unknown): Promise<void> {
    throw sessionRefusal();
  }

  async transactionRun<T>(): Promise<T> {
    throw sessionRefusal();
  }

  async close(): Promise<void> {}

  /** Test helper: replaces a stored document as-is (e.g. to simulate hand edits). */
  rawPut(doc: Doc): void {
    const stored = copyOf(doc);
    this.docs.set(doc._id, stored);
    this.pending.note(stored);
  }
}
