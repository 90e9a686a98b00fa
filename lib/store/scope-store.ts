/**
 * Storage of scope locks: one document per held scope of a queue, `_id` = `${queue}/${scope}`,
 * so the unique `_id` index is the lock (no partial index, no transaction). Slot `i` of a
 * concurrency key is a lock of its own, `_id` = `${queue}/$slot/${i}/${key}` (no scope starts
 * with `$`, so the two kinds of ID never collide). `MongoScopeStore`
 * (lib/store/mongo/scope-store.ts) keeps every filter of the collection; `MemoryScopeStore`
 * (lib/store/memory/scope-store.ts) has the same semantics in memory.
 *
 * Rules every implementation keeps:
 * - an insert of a lock whose `_id` exists fails for that lock only, and says which ones failed;
 * - a lock changes hands only by a write conditioned on its current `token` (one acquisition).
 *
 * The calls a put makes (insert, get, take over, release) take the caller's session, so
 * enqueue scopes commit or roll back with the job (see `SessionOptions`).
 */
import type { SessionOptions } from './job-store';

/**
 * Dispatch scopes (and concurrency-key slots) are held while a job runs; enqueue scopes from put
 * until the job finishes.
 */
export type ScopeKind = 'dispatch' | 'enqueue';

/** The stored document of one held scope. */
export interface ScopeLockDocument {
  /**
   * `${queue}/${scope}` (see `scopeLockId`), or `concurrencySlotId` for a slot: queue names
   * cannot contain `/`, so this is unambiguous.
   */
  _id: string;
  queue: string;
  /** The scope, or the concurrency key of a slot. */
  scope: string;
  /** Index of the slot (0..limit-1) on slot locks of a concurrency key; absent on scopes. */
  slot?: number;
  kind: ScopeKind;
  /** `baseJobId` of the holding job (shared by all its attempts). */
  holder: string;
  /** Attempt ID that took the lock. */
  attemptId: string;
  /** Runner owner running the holder (dispatch scopes); empty for enqueue scopes. */
  owner: string;
  /** Random ID of this acquisition: the fencing token of takeovers and releases. */
  token: string;
  acquiredAt: Date;
  /**
   * Dispatch: the holder's lock expiry as last seen; before it the lock is presumed live without
   * reading the holder. Enqueue: the end of the grace given to the put to insert its job; after
   * it, a holder that does not exist means the put died between the two writes.
   */
  expiresAt: Date;
}

/** The fields of a lock that say who holds it: all but its identity (`_id`, `scope`, `slot`). */
export type ScopeLockFields = Omit<ScopeLockDocument, '_id' | 'scope' | 'slot'>;

/** Which locks a release deletes: those of `ids` matching every field given. */
export interface ScopeReleaseFilter {
  ids: string[];
  /** Only locks of these acquisitions. */
  tokens?: string[];
  kind?: ScopeKind;
  holder?: string;
  attemptId?: string;
  owner?: string;
}

/** Storage of scope locks. */
export interface ScopeStore {
  /** Create indexes; idempotent. */
  init(): Promise<void>;
  /**
   * Inserts locks in one round trip (unordered). Returns the IDs that were held already (a
   * duplicate key); every other lock is now held. With a session, held IDs are found by a read
   * first, so no duplicate key fails a write inside the transaction.
   */
  scopeInsert(locks: ScopeLockDocument[], options?: SessionOptions): Promise<string[]>;
  scopeGet(id: string, options?: SessionOptions): Promise<ScopeLockDocument | null>;
  /** The held locks among `ids`, in one round trip (any order). */
  scopeGetMany(ids: string[]): Promise<ScopeLockDocument[]>;
  /**
   * Replaces the lock `lock._id` with `lock` if it is still the acquisition `expectedToken`.
   * True when it was replaced.
   */
  scopeTakeOver(
    params: { lock: ScopeLockDocument; expectedToken: string },
    options?: SessionOptions,
  ): Promise<boolean>;
  /** Moves the expiry of the acquisition `token`; false when the lock changed hands. */
  scopeRefresh(params: { id: string; token: string; expiresAt: Date }): Promise<boolean>;
  /** Deletes the locks any filter matches, in one round trip; returns how many. */
  scopeRelease(filters: ScopeReleaseFilter[], options?: SessionOptions): Promise<number>;
  /** Locks held in a queue (optionally by one job), ascending by ID. */
  scopeList(params: { queue: string; holder?: string }): Promise<ScopeLockDocument[]>;
  close(): Promise<void>;
}

/** The `_id` of the lock of `scope` in `queue`. */
export function scopeLockId(queue: string, scope: string): string {
  return `${queue}/${scope}`;
}

/**
 * The `_id` of slot `slot` of concurrency key `key` in `queue`. `$` cannot start a scope, so it
 * never equals a `scopeLockId`; the key goes last, so any key keeps the ID unambiguous.
 */
export function concurrencySlotId(queue: string, key: string, slot: number): string {
  return `${queue}/$slot/${slot}/${key}`;
}
