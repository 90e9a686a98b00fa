/**
 * The storage protocol of queue records: one document per named queue, shared by every process
 * of a deployment. Groups record the queues they open (so other processes can discover them) and
 * the fuses (a paused queue, paused job types) that every runner pool of the queue obeys.
 * `MongoQueueStore` (lib/store/mongo/queue-store.ts) and `MemoryQueueStore` (lib/store/memory/queue-store.ts)
 * implement it with the same semantics.
 *
 * Every write is one atomic update of one record; the writes commute (setting a flag, adding to or
 * removing from a set), so they need no guard. Each write but `queueTouch` increments `modCount`,
 * so a cache can tell a newer copy from an older one.
 */

/** Serializable options as recorded: option names mapped to primitives or arrays of them. */
export type RecordedOptions = Record<string, string | number | boolean | null | RecordedValue[]>;
type RecordedValue = string | number | boolean | null;

/** The stored record of one named queue. */
export interface QueueRecord {
  name: string;
  /** When any process first opened (or paused) the queue. */
  created: Date;
  /** Last activity seen by a process that holds the queue (open, put, run); updated lazily. */
  lastActive: Date;
  /** While true, no runner pool claims from the queue; its jobs stay pending. */
  paused: boolean;
  /** When `paused` was last set to true; null while not paused. */
  pausedAt: Date | null;
  /** Job type names no runner pool claims from this queue. */
  pausedTypes: string[];
  /** The serializable effective options of the process that last opened the queue. */
  options: RecordedOptions;
  /** Incremented by every write except `queueTouch`. */
  modCount: number;
  modTime: Date;
}

/** A missing queue's record before its first write (which increments `modCount` to 1). */
export function freshQueueRecord(name: string, now: Date): QueueRecord {
  return {
    name,
    created: now,
    lastActive: now,
    paused: false,
    pausedAt: null,
    pausedTypes: [],
    options: {},
    modCount: 0,
    modTime: now,
  };
}

export interface QueueOpenParams {
  name: string;
  options: RecordedOptions;
  now: Date;
}

export interface QueuePauseParams {
  name: string;
  paused: boolean;
  now: Date;
}

export interface QueuePauseTypeParams {
  name: string;
  type: string;
  paused: boolean;
  now: Date;
}

/** The fuse part of a queue record, as `queueFuses` reads it. */
export type QueueFuseState = Pick<QueueRecord, 'name' | 'paused' | 'pausedTypes' | 'modCount'>;

/** Storage of queue records. */
export interface QueueStore {
  /** Create indexes and the like; idempotent. */
  init(): Promise<void>;
  /**
   * Creates the record if missing (not paused, no paused types) and sets `lastActive` and
   * `options`. Safe to call from several processes at once. Returns the record after the write.
   */
  queueOpen(params: QueueOpenParams): Promise<QueueRecord>;
  queueGet(name: string): Promise<QueueRecord | null>;
  /** The fuse state of the recorded queues among `names` (one read, by primary key). */
  queueFuses(names: readonly string[]): Promise<QueueFuseState[]>;
  /** Records ascending by name, after `after` (cursor pagination). */
  queueList(params: { after?: string; limit: number }): Promise<QueueRecord[]>;
  /** Moves `lastActive` forward to `now` (never back). False when there is no record. */
  queueTouch(params: { name: string; now: Date }): Promise<boolean>;
  /**
   * Sets the paused flag. Pausing creates a missing record (a fuse may be set before any process
   * opens the queue); resuming a missing one returns null.
   */
  queuePause(params: QueuePauseParams): Promise<QueueRecord | null>;
  /** Adds a type to (creating a missing record) or removes it from `pausedTypes`. */
  queuePauseType(params: QueuePauseTypeParams): Promise<QueueRecord | null>;
  close(): Promise<void>;
}
