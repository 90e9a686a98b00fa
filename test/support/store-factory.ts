/**
 * Factories of stored documents in any state, for tests that drive the stores directly (River's
 * testfactory): job attempts (built on `makeDoc`, with every envelope field a store reads open to
 * override), scope locks, schedule entries, time-range requests and worker records. Each takes
 * explicit times, so a test passes the same `now` to the store and never reads the wall clock.
 */
import type { JobDocument, JobState } from '../../lib';
import type { JobStore } from '../../lib/store/job-store';
import type { TimeRangeRequestDocument } from '../../lib/store/request-store';
import type { ScheduleDocument } from '../../lib/store/schedule-store';
import type { ScopeLockDocument } from '../../lib/store/scope-store';
import type { WorkerRecord } from '../../lib/store/worker-store';
import { makeDoc, type DocSpec } from './management-factory';

/** A fixed instant the store tests count from (no test reads the wall clock). */
export const T0 = new Date('2030-01-01T00:00:00.000Z');

/** `T0` plus `ms` milliseconds. */
export function at(ms: number): Date {
  return new Date(T0.getTime() + ms);
}

/** A job attempt: `makeDoc`'s fields plus the envelope fields the stores read and write. */
export interface JobSpec extends DocSpec {
  /** Defaults to T0 (makeDoc would take the wall clock). */
  created?: Date;
  /** Type name (default: makeDoc's `test-noop` or `test-fail`). */
  type?: string;
  priority?: number;
  payload?: Record<string, unknown>;
  owner?: string;
  modCount?: number;
  modTime?: Date;
  /** Lock expiry; a running attempt defaults to `created` + 1 hour. */
  lockExpiresAt?: Date | null;
  abortRequested?: boolean;
  lockLosses?: number;
  /** Dependency edges (IDs of jobs this one waits for). */
  edges?: string[];
}

/** A job attempt in any state, as a worker (or a crash) would have left it. */
export function jobDoc(spec: JobSpec): JobDocument {
  const created = spec.created ?? T0;
  const doc = makeDoc({ ...spec, created });
  if (spec.type !== undefined) doc.type = { name: spec.type, version: doc.type.version };
  if (spec.priority !== undefined) doc.priority = spec.priority;
  if (spec.payload !== undefined) doc.payload = spec.payload;
  if (spec.owner !== undefined) doc.status.owner = spec.owner;
  if (spec.modCount !== undefined) doc.status.modCount = spec.modCount;
  doc.status.modTime = spec.modTime ?? created;
  if (doc.state === 'running') doc.status.lockExpiresAt = new Date(created.getTime() + 3600_000);
  if (spec.lockExpiresAt !== undefined) doc.status.lockExpiresAt = spec.lockExpiresAt;
  if (spec.abortRequested !== undefined) doc.status.abortRequested = spec.abortRequested;
  if (spec.lockLosses !== undefined) doc.status.lockLosses = spec.lockLosses;
  if (spec.edges !== undefined) doc.dependency.edges = spec.edges;
  return doc;
}

/** Inserts attempts built by `jobDoc` and returns them as inserted. */
export async function insertJobs(store: JobStore, specs: JobSpec[]): Promise<JobDocument[]> {
  const docs = specs.map(jobDoc);
  await store.jobInsert(docs);
  return docs;
}

/**
 * Pending documents of `queue` whose envelope no claim can update (hand edits, other tools), one
 * per way to break it, with IDs `${queue}-<how>`. Write them with a raw insert (`rawPutJob`).
 */
export function malformedJobs(queue: string, priority = 0): ({ _id: string } & object)[] {
  const broken = (how: string, breakIt: (d: Record<string, unknown>) => void) => {
    const doc: Record<string, unknown> = { ...jobDoc({ id: `${queue}-${how}`, queue, priority }) };
    breakIt(doc);
    return { ...doc, _id: `${queue}-${how}` };
  };
  const status = (d: Record<string, unknown>) => d.status as Record<string, unknown>;
  return [
    broken('modcount-string', (d) => (status(d).modCount = '3')),
    broken('modcount-missing', (d) => delete status(d).modCount),
    broken('modcount-array', (d) => (status(d).modCount = [1])),
    broken('status-null', (d) => (d.status = null)),
    broken('status-array', (d) => (d.status = [d.status])),
    broken('timeinfo-string', (d) => (d.timeInfo = 'soon')),
    broken('timeinfo-array', (d) => (d.timeInfo = [])),
    broken('timeinfo-array-of-object', (d) => (d.timeInfo = [d.timeInfo])),
    broken('dueat-string', (d) => (d.dueAt = '2030-01-01T00:00:00Z')),
  ];
}

/** A held scope lock (a dispatch scope of a running attempt unless told otherwise). */
export function scopeLock(
  spec: { id: string; queue?: string; scope?: string } & Partial<ScopeLockDocument>,
): ScopeLockDocument {
  return {
    queue: 'q',
    scope: spec.id.slice(spec.id.indexOf('/') + 1),
    kind: 'dispatch',
    holder: 'job-1',
    attemptId: 'job-1',
    owner: 'runner-1',
    token: `token-of-${spec.id}`,
    acquiredAt: T0,
    expiresAt: at(60_000),
    ...spec,
    _id: spec.id,
  };
}

/** A schedule entry (every minute, enabled, never ticked unless told otherwise). */
export function scheduleEntry(spec: { key: string } & Partial<ScheduleDocument>): ScheduleDocument {
  return {
    queue: 'q',
    type: { name: 'test-noop', version: 1 },
    payload: { tag: spec.key },
    options: {},
    everyMs: 60_000,
    cron: null,
    timezone: null,
    enabled: true,
    createdAt: T0,
    updatedAt: T0,
    revision: 0,
    lastTick: null,
    nextTickAt: T0,
    ...spec,
    _id: spec.key,
  };
}

/** A time-range request in `state` (finished states are settled and finished at `finished`). */
export function timeRangeRequest(
  spec: { id: string; state?: TimeRangeRequestDocument['state'] } & Partial<
    Omit<TimeRangeRequestDocument, '_id'>
  >,
): TimeRangeRequestDocument {
  const state = spec.state ?? 'pending';
  const finished = ['done', 'failed', 'cancelled'].includes(state);
  const { id, ...rest } = spec;
  return {
    name: `request ${id}`,
    queue: 'q',
    chunkType: 'test-noop',
    earliest: T0,
    latest: at(3 * 3600_000),
    chunkMs: 3600_000,
    total: 3,
    state,
    continueOnChunkFailure: false,
    template: jobDoc({ id: `${id}-template` }),
    created: T0,
    started: state === 'new' || state === 'pending' ? null : T0,
    finished: finished ? at(60_000) : null,
    counts: finished ? { total: 3, done: 3, failed: 0, running: 0, waiting: 0 } : null,
    message: finished ? `${id} ${state}` : null,
    settled: finished,
    modCount: 0,
    modTime: T0,
    ...rest,
    _id: id,
  };
}

/** The presence record of one group, live until `expiresAt`, running the queues named. */
export function workerRecord(
  spec: { id: string; queues?: string[] } & Partial<Omit<WorkerRecord, '_id' | 'queues'>>,
): WorkerRecord {
  const { id, queues, ...rest } = spec;
  return {
    host: 'host-1',
    pid: 1000,
    startedAt: T0,
    seenAt: T0,
    expiresAt: at(30_000),
    state: 'ready',
    message: '',
    stateSince: null,
    queues: (queues ?? ['q']).map((name) => ({
      name,
      owner: `${id}/${name}`,
      workers: 4,
      running: 1,
    })),
    ...rest,
    _id: id,
  };
}

/** The states no claim, heartbeat or reclaim touches. */
export const NOT_RUNNING: JobState[] = [
  'pending',
  'blocked',
  'retrying',
  'completed',
  'failed',
  'aborted',
  'expired',
  'quarantined',
];
