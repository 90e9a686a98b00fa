/**
 * Concurrency keys: at most `limit` jobs sharing a key run at the same time in one queue, in
 * every process. A key of limit L is L slot locks in the scope-lock collection (IDs from
 * `concurrencySlotId`). A job runs holding one slot, taken at dispatch together with its dispatch
 * scopes (all or nothing, see `ScopeLocks` in scope-locks.ts) and released, or taken over from a dead
 * holder, exactly like a dispatch scope (slot locks are of kind 'dispatch'). Only the choice of
 * the slot is new, and it lives here.
 *
 * Choosing a slot: the first try starts at a random slot, so contenders spread over the slots,
 * and rides in the same insert as the job's scope locks: a free slot costs no round trip of its
 * own. When that slot is held, one read fetches every slot of the key, then the slots are tried
 * in order from there: a free one by an insert, a held one settled like a contended scope (taken
 * over from a dead holder). The key is busy only when all `limit` slots have live holders. A job
 * of limit L uses slots 0..L-1 only, so jobs that disagree on the limit still keep the smaller
 * limit among themselves.
 */
import { randomInt } from 'node:crypto';
import {
  concurrencySlotId,
  type ScopeLockDocument,
  type ScopeLockFields,
  type ScopeStore,
} from '../store/scope-store';
import type { ConcurrencyKey } from '../types';

/** How a contended lock was settled: taken, covered by the job's own lock, or busy (the holder's lock). */
export type LockOutcome = 'taken' | 'held-by-self' | ScopeLockDocument;

/**
 * Settles one contended lock. `known` is its document as just read (null: it was free), which
 * saves the first read; undefined when the caller has not read it.
 */
export type SettleLock = (
  lock: ScopeLockDocument,
  known?: ScopeLockDocument | null,
) => Promise<LockOutcome>;

/** The lock of slot `slot` of concurrency key `key`, held as `holder` says. */
export function slotLock(holder: ScopeLockFields, key: string, slot: number): ScopeLockDocument {
  const { queue, kind, attemptId, owner, token, acquiredAt, expiresAt } = holder;
  return {
    _id: concurrencySlotId(queue, key, slot),
    queue,
    scope: key,
    slot,
    kind,
    holder: holder.holder,
    attemptId,
    owner,
    token,
    acquiredAt,
    expiresAt,
  };
}

/** The slot lock to try first: a random slot of the key, so contenders spread over them. */
export function firstSlotLock(holder: ScopeLockFields, key: ConcurrencyKey): ScopeLockDocument {
  return slotLock(holder, key.key, randomInt(key.limit));
}

/** What taking a slot came to: the slot lock now held, or the lock of a live holder. */
export type SlotOutcome = { taken: ScopeLockDocument } | { busy: ScopeLockDocument };

/**
 * Takes a slot of the key of `first` (a `firstSlotLock` whose insert hit a held slot), trying
 * every slot 0..limit-1 once, from `first` on. Every lock tried besides `first` is pushed onto
 * `tried`, for the caller to give back (by its acquisition token) on busy or error.
 */
export async function takeSlot(params: {
  store: ScopeStore;
  first: ScopeLockDocument;
  limit: number;
  settle: SettleLock;
  tried: ScopeLockDocument[];
}): Promise<SlotOutcome> {
  const { first, limit } = params;
  const start = first.slot ?? 0;
  const locks = Array.from({ length: limit }, (_, i) =>
    i === 0 ? first : slotLock(first, first.scope, (start + i) % limit),
  );
  // One read of every slot rather than one per slot: the busy path costs the same for any limit.
  const held = new Map(
    (await params.store.scopeGetMany(locks.map((l) => l._id))).map((d) => [d._id, d]),
  );
  let busy: ScopeLockDocument | undefined;
  for (const lock of locks) {
    if (lock !== first) params.tried.push(lock);
    const outcome = await params.settle(lock, held.get(lock._id) ?? null);
    if (outcome === 'taken') return { taken: lock };
    // 'held-by-self' answers an enqueue lock of the job itself, which a slot never is.
    if (outcome !== 'held-by-self') busy ??= outcome;
  }
  return { busy: busy ?? first };
}
