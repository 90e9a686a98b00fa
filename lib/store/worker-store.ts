/**
 * Storage of worker presence: one record per live queue group that runs pools (a worker
 * process, usually), refreshed on an interval and on every change of its workers' state, so
 * that any process sees who works on which queue and which workers a hook holds back (e.g.
 * `auth-required`). `MongoWorkerStore` (lib/store/mongo/worker-store.ts) keeps every filter of the
 * collection; `MemoryWorkerStore` (lib/store/memory/worker-store.ts) has the same semantics in memory.
 *
 * A record is trusted until its `expiresAt`: a process killed without closing disappears from
 * lists once that passes, and its record is deleted by the next pass of any live process.
 * Nothing here decides who owns a job (that is the job's lock): presence is for operators.
 */

/** What one group's pool of one queue is doing. */
export interface WorkerQueue {
  name: string;
  /** Owner ID of the queue's runner pool: `status.owner` of the jobs it runs. */
  owner: string;
  /** Concurrency of the pool. */
  workers: number;
  /** Jobs whose code runs now (not those recording their outcome). */
  running: number;
}

/** The stored presence of one queue group. */
export interface WorkerRecord {
  /** The group's presence ID (host, process and a random part). */
  _id: string;
  host: string;
  pid: number;
  startedAt: Date;
  /** Last write of this record. */
  seenAt: Date;
  /** After this the record is presumed dead (its process stopped without closing). */
  expiresAt: Date;
  /** `ready`, or the state a `beforeRun` hook holds the workers in (e.g. `auth-required`). */
  state: string;
  /** Why the workers wait; empty when ready. */
  message: string;
  /** When the current wait began; null when ready. */
  stateSince: Date | null;
  /** Queues whose pools run here (started and not closed). */
  queues: WorkerQueue[];
}

/** Storage of worker presence. */
export interface WorkerStore {
  /** Create indexes; idempotent. */
  init(): Promise<void>;
  /** Writes a record whole (insert or replace), in one round trip. */
  workerSave(record: WorkerRecord): Promise<void>;
  /** Records not expired at `now`, ascending by ID; of one queue only when `queue` is given. */
  workerList(params: { now: Date; queue?: string }): Promise<WorkerRecord[]>;
  /** Deletes one record (a group that closes); true when it existed. */
  workerRemove(id: string): Promise<boolean>;
  /** Deletes records that expired before `before`; returns how many. */
  workerPrune(before: Date): Promise<number>;
  close(): Promise<void>;
}

/** Live workers by state (`ready`, `auth-required`...): groups and their pools' concurrency. */
export interface WorkerStateCount {
  state: string;
  /** Groups (processes) in this state. */
  groups: number;
  /** Their pools' concurrency, summed over queues. */
  workers: number;
  running: number;
}

/** Counts records by state, `ready` first, then by name. */
export function countWorkerStates(records: WorkerRecord[]): WorkerStateCount[] {
  const byState = new Map<string, WorkerStateCount>();
  for (const r of records) {
    const c = byState.get(r.state) ?? { state: r.state, groups: 0, workers: 0, running: 0 };
    c.groups++;
    for (const q of r.queues) {
      c.workers += q.workers;
      c.running += q.running;
    }
    byState.set(r.state, c);
  }
  const rank = (s: string) => (s === 'ready' ? '' : s);
  return [...byState.values()].sort((a, b) => rank(a.state).localeCompare(rank(b.state)));
}
