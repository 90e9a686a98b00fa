/**
 * The storage protocol of time-range requests (lib/time-ranges/time-range-requests.ts): one document per
 * request that a long time range be processed in chunks. The chunks themselves are ordinary jobs;
 * the request record holds what is needed to create them again (a template chunk document), the
 * request's state, and when it started and finished. `MongoRequestStore` (lib/store/mongo/) and
 * `MemoryRequestStore` (lib/store/memory/) implement it with the same semantics.
 *
 * Every state change is one conditional write that matches on `_id`, one of the expected states
 * and (when given) `modCount`, and increments `modCount`; a write that matches nothing returns
 * null, so of two processes settling the same request exactly one wins.
 */
import type { JobDocument } from '../types';

/** States of a request, as the backfill seed names them. */
export const TIME_RANGE_STATES = [
  'new', // recorded; its chunk jobs may not all exist yet
  'pending', // every chunk job exists; none has started
  'running', // a chunk has started
  'done', // every chunk finished (completed, or failed with `continueOnChunkFailure`)
  'failed', // a chunk ran out of retries (without `continueOnChunkFailure`)
  'cancelled', // cancelled on request
] as const;
export type TimeRangeState = (typeof TIME_RANGE_STATES)[number];

/** States after which a request changes no more (but `settled`). */
export const TIME_RANGE_FINISHED: readonly TimeRangeState[] = ['done', 'failed', 'cancelled'];

/** Chunks of a request by the state of their newest attempt. */
export interface TimeRangeCounts {
  total: number;
  /** Completed chunks. */
  done: number;
  /** Chunks that ended failed, aborted, expired or quarantined. */
  failed: number;
  running: number;
  /** Chunks waiting: pending, blocked, or between two attempts. */
  waiting: number;
}

/** The stored record of one request. */
export interface TimeRangeRequestDocument {
  _id: string;
  /** What is processed, for messages (e.g. a KPI's title). */
  name: string;
  queue: string;
  /** Job type name of the chunk class. */
  chunkType: string;
  earliest: Date;
  latest: Date;
  chunkMs: number;
  /** Number of chunks. */
  total: number;
  state: TimeRangeState;
  /** When true, a chunk out of retries does not fail the request. */
  continueOnChunkFailure: boolean;
  /** A chunk job as the registry stored it, before the chunk's own fields are set. */
  template: JobDocument;
  created: Date;
  /** When the first chunk started; null before. */
  started: Date | null;
  /** When the request reached a finished state; null before. */
  finished: Date | null;
  /** Chunk counts at the time it finished; null before. */
  counts: TimeRangeCounts | null;
  /** The readable outcome ("backfill of ... completed in 3 minutes"); null before. */
  message: string | null;
  /**
   * False while work on the chunks remains: creating them (new), running them, or aborting the
   * rest after a cancel or a failure. Maintenance passes look only at unsettled requests.
   */
  settled: boolean;
  modCount: number;
  modTime: Date;
}

/** Fields a transition may set. */
export interface TimeRangeRequestUpdate {
  state?: TimeRangeState;
  started?: Date;
  finished?: Date;
  counts?: TimeRangeCounts;
  message?: string;
  settled?: boolean;
}

export interface RequestTransitionParams {
  id: string;
  /** The write matches only while the request is in one of these states. */
  from: readonly TimeRangeState[];
  /** When given, the write also matches only this modCount. */
  modCount?: number;
  update: TimeRangeRequestUpdate;
  now: Date;
}

export interface RequestListParams {
  queue?: string;
  states?: readonly TimeRangeState[];
  /** Only requests with `settled: false`. */
  unsettled?: boolean;
  /** Requests with `_id` greater than this (cursor pagination, ascending by ID). */
  afterId?: string;
  limit: number;
}

/** Storage of time-range requests. */
export interface RequestStore {
  /** Create indexes and the like; idempotent. */
  init(): Promise<void>;
  /** Inserts a request; throws InvalidArgumentError when its ID exists. */
  requestInsert(doc: TimeRangeRequestDocument): Promise<void>;
  requestGet(id: string): Promise<TimeRangeRequestDocument | null>;
  /** One conditional write; returns the request after it, or null when nothing matched. */
  requestTransition(params: RequestTransitionParams): Promise<TimeRangeRequestDocument | null>;
  /** Requests ascending by ID. */
  requestList(params: RequestListParams): Promise<TimeRangeRequestDocument[]>;
  /**
   * Deletes up to `limit` settled requests in a finished state that finished before
   * `finishedBefore`. Returns how many were deleted.
   */
  requestPrune(params: { finishedBefore: Date; limit: number }): Promise<number>;
  close(): Promise<void>;
}
