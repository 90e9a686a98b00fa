/**
 * Scope locks: named locks per queue that keep jobs apart, held in their own collection (one
 * document per held scope, see scope-store.ts), taken and released by this queue extension.
 *
 * - **Dispatch scopes** (`job.scopes`) are taken after a claim, just before the job runs, and
 *   released when the attempt leaves `running`: two jobs sharing one never run at the same time,
 *   in any process. A job that finds one busy is released back to pending after a short jittered
 *   backoff, taking nothing (all or nothing).
 * - **Enqueue scopes** (`job.enqueueScopes`) are taken at put: a second put holding one fails with
 *   `DuplicateJobScopeError` (`Queue.putUnique` treats that as success: singleton jobs). They are
 *   held by the job across its retries (every attempt shares the `baseJobId`) and released when it
 *   ends completed, failed, aborted, expired or quarantined.
 * - **Concurrency keys** (`job.concurrencyKey`, `{ key, limit }`): at most `limit` jobs with the
 *   same key run at the same time. Each key has `limit` slot locks; a job takes one at dispatch,
 *   in the same all-or-nothing acquisition as its dispatch scopes, and gives it back with them
 *   (see concurrency-keys.ts for how a slot is chosen). A dispatch scope is a key of limit 1.
 *
 * Both kinds of scope share one namespace per queue: a scope held at put also keeps out jobs that
 * want it at dispatch, and a job listing a scope in both lists holds it from put to finish
 * (amboy's "enqueue all scopes"). Slot IDs never collide with scope IDs.
 *
 * Crashed holders: a lock changes hands only by a write conditioned on its acquisition token.
 * A contender reads the holder (the job store's `jobGet` / `jobGetLatest`) and takes the lock over
 * when the holder no longer runs under the lock's owner with a live lock (dispatch) or has ended
 * or never got inserted (enqueue). Conflicts are found by the duplicate key of the lock's `_id`,
 * never by message text. Jobs without scopes or concurrency key cost no round trip; the common
 * case of a job with both costs one insert (scopes and slot together) and one delete.
 *
 * Jobs claimed with `Queue.next()` (run by the caller, not a pool) bypass extensions and take no
 * dispatch scopes or slots.
 */
import { randomUUID } from 'node:crypto';
import { firstSlotLock, takeSlot, type LockOutcome, type SettleLock } from './concurrency-keys';
import { DuplicateJobScopeError } from '../errors';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import {
  scopeLockId,
  type ScopeLockDocument,
  type ScopeLockFields,
  type ScopeReleaseFilter,
  type ScopeStore,
} from '../store/scope-store';
import { backoffMs } from '../timers/sleep';
import type { JobStore, SessionOptions } from '../store/job-store';
import type { JobDocument, JobState } from '../types';
import { checkNumber } from '../validate';
import { isFinal } from '../states';

/** First delay before a job that found a dispatch scope busy is claimable again. */
export const SCOPE_BUSY_DELAY_MIN_MS_DEFAULT = 10;
/** Cap of that delay; it doubles (jittered) each time the same attempt finds a scope busy. */
export const SCOPE_BUSY_DELAY_MAX_MS_DEFAULT = 1_000;
export const SCOPE_BUSY_DELAY_MS_MAX = 60_000;
/** Time a put has to insert its job after taking its enqueue scopes. */
export const SCOPE_INSERT_GRACE_MS_DEFAULT = 60_000;
export const SCOPE_INSERT_GRACE_MS_MIN = 1_000;

/** Options of the scope-lock extension. All optional. */
export interface ScopeLockOptions {
  busyDelayMinMs?: number;
  busyDelayMaxMs?: number;
  /**
   * After this long, an enqueue scope whose holder job does not exist is taken over (the put
   * died between taking the scope and inserting the job).
   */
  insertGraceMs?: number;
}

export interface ResolvedScopeLockOptions {
  busyDelayMinMs: number;
  busyDelayMaxMs: number;
  insertGraceMs: number;
}

/** Copies, defaults and validates scope-lock options. */
export function resolveScopeLockOptions(o: ScopeLockOptions = {}): ResolvedScopeLockOptions {
  const busyDelayMinMs = checkNumber(
    'busyDelayMinMs',
    o.busyDelayMinMs ?? SCOPE_BUSY_DELAY_MIN_MS_DEFAULT,
    1,
    SCOPE_BUSY_DELAY_MS_MAX,
  );
  const busyDelayMaxMs = checkNumber(
    'busyDelayMaxMs',
    o.busyDelayMaxMs ?? Math.max(busyDelayMinMs, SCOPE_BUSY_DELAY_MAX_MS_DEFAULT),
    busyDelayMinMs,
    SCOPE_BUSY_DELAY_MS_MAX,
  );
  const insertGraceMs = checkNumber(
    'insertGraceMs',
    o.insertGraceMs ?? SCOPE_INSERT_GRACE_MS_DEFAULT,
    SCOPE_INSERT_GRACE_MS_MIN,
    24 * 3600_000,
  );
  return { busyDelayMinMs, busyDelayMaxMs, insertGraceMs };
}

const RUN: StartVerdict = { action: 'run' };
/** Reads and takeovers tried on one contended scope before calling it busy. */
const TAKE_TRIES = 3;
/** Bound of the per-attempt busy counters (they only shape the backoff). */
const BUSY_COUNTS_MAX = 10_000;

/** The stores the extension works with. */
export interface ScopeLockStores {
  jobs: JobStore;
  scopes: ScopeStore;
}

/** A concurrency-key slot to take with a set of locks: the first slot to try, and the limit. */
interface SlotRequest {
  first: ScopeLockDocument;
  limit: number;
}

/** Result of taking a set of locks: all taken, or the first busy one (nothing kept). */
interface Acquisition {
  taken: ScopeLockDocument[];
  busy?: { lock: ScopeLockDocument; held: ScopeLockDocument };
}

function unique(scopes: string[]): string[] {
  return [...new Set(scopes)];
}

/** The lock of `scope`, held as `holder` says. */
function scopeLock(holder: ScopeLockFields, scope: string): ScopeLockDocument {
  return { _id: scopeLockId(holder.queue, scope), scope, ...holder };
}

/** Why a job was sent back: which lock was busy. */
function busyReason(held: ScopeLockDocument, limit: number | undefined): string {
  if (held.slot === undefined) return `scope "${held.scope}" is held by job ${held.holder}`;
  return `concurrency key "${held.scope}" has no free slot (limit ${limit ?? '?'})`;
}

/** The scope-lock feature, plugged into every queue of a group. */
export class ScopeLocks implements QueueExtension {
  readonly name = 'scopes';
  readonly options: ResolvedScopeLockOptions;
  private readonly jobs: JobStore;
  private readonly scopes: ScopeStore;
  /** Enqueue locks each document took at put, for `insertFailed` to give back. */
  private readonly takenAtPut = new WeakMap<JobDocument, ScopeLockDocument[]>();
  /** Attempts of this queue's pool that hold dispatch locks (and slots) now: the lock IDs. */
  private readonly holding = new Map<string, string[]>();
  /** How often each attempt found a scope busy in a row (backoff exponent). */
  private readonly busyCounts = new Map<string, number>();

  constructor(stores: ScopeLockStores, options: ScopeLockOptions = {}) {
    this.jobs = stores.jobs;
    this.scopes = stores.scopes;
    this.options = resolveScopeLockOptions(options);
  }

  async beforeInsert(
    queue: string,
    docs: JobDocument[],
    options: SessionOptions = {},
  ): Promise<void> {
    const scoped = docs.filter((d) => d.enqueueScopes.length > 0);
    if (scoped.length === 0) return;
    const locks: ScopeLockDocument[] = [];
    const mine = new Map<ScopeLockDocument, JobDocument>();
    for (const doc of scoped) {
      const now = doc.status.modTime;
      const token = randomUUID();
      for (const scope of unique(doc.enqueueScopes)) {
        const lock = scopeLock(
          {
            queue,
            kind: 'enqueue',
            holder: doc.retryInfo.baseJobId,
            attemptId: doc._id,
            owner: '',
            token,
            acquiredAt: now,
            expiresAt: new Date(now.getTime() + this.options.insertGraceMs),
          },
          scope,
        );
        locks.push(lock);
        mine.set(lock, doc);
      }
    }
    const got = await this.acquire(locks, locks[0].acquiredAt, undefined, options);
    if (got.busy) {
      const { lock, held } = got.busy;
      throw new DuplicateJobScopeError(lock.attemptId, lock.scope, held.holder, queue);
    }
    for (const lock of got.taken) {
      const doc = mine.get(lock);
      if (doc) this.takenAtPut.set(doc, [...(this.takenAtPut.get(doc) ?? []), lock]);
    }
  }

  async insertFailed(
    _queue: string,
    notInserted: JobDocument[],
    options: SessionOptions = {},
  ): Promise<void> {
    const locks = notInserted.flatMap((d) => this.takenAtPut.get(d) ?? []);
    for (const d of notInserted) this.takenAtPut.delete(d);
    if (locks.length === 0) return;
    await this.scopes.scopeRelease([tokenFilter(locks)], options);
  }

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    const { job } = ctx;
    const key = job.concurrencyKey;
    if (job.scopes.length === 0 && !key) return RUN;
    const holder: ScopeLockFields = {
      queue: ctx.queue,
      kind: 'dispatch',
      holder: job.baseJobId,
      attemptId: job.id,
      owner: ctx.token.owner,
      token: randomUUID(),
      acquiredAt: ctx.now,
      expiresAt: job.status.lockExpiresAt ?? ctx.now,
    };
    const locks = unique(job.scopes).map((scope) => scopeLock(holder, scope));
    const slot = key && { first: firstSlotLock(holder, key), limit: key.limit };
    const got = await this.acquire(locks, ctx.now, slot);
    if (!got.busy) {
      this.busyCounts.delete(job.id);
      this.holding.set(
        job.id,
        got.taken.map((l) => l._id),
      );
      return RUN;
    }
    const n = this.busyCounts.get(job.id) ?? 0;
    if (this.busyCounts.size >= BUSY_COUNTS_MAX) this.busyCounts.clear();
    this.busyCounts.set(job.id, n + 1);
    const { held } = got.busy;
    return {
      action: 'release',
      delayMs: backoffMs(n, this.options.busyDelayMinMs, this.options.busyDelayMaxMs),
      reason: busyReason(held, key?.limit),
    };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    const { job } = ctx;
    if (state !== 'pending') this.busyCounts.delete(job.id);
    const filters: ScopeReleaseFilter[] = [];
    const dispatch = this.dispatchRelease(ctx);
    if (dispatch) filters.push(dispatch);
    if (job.enqueueScopes.length > 0 && isFinal(state)) {
      filters.push({
        ids: unique(job.enqueueScopes).map((s) => scopeLockId(ctx.queue, s)),
        kind: 'enqueue',
        holder: job.baseJobId,
      });
    }
    if (filters.length === 0) return;
    await this.scopes.scopeRelease(filters);
  }

  /**
   * The run's outcome was dropped (lock lost, abandoned, write failed): its code has returned, so
   * the dispatch locks taken under this owner go back now rather than waiting for a takeover.
   * They are released by attempt and owner, so a lock a reclaiming worker already took over from
   * us is never touched. Enqueue scopes stay: the job has not ended.
   */
  async outcomeDropped(ctx: AttemptContext): Promise<void> {
    this.busyCounts.delete(ctx.job.id);
    const dispatch = this.dispatchRelease(ctx);
    if (dispatch) await this.scopes.scopeRelease([dispatch]);
  }

  /** Forgets the dispatch locks this pool holds for the attempt; the filter releasing them. */
  private dispatchRelease(ctx: AttemptContext): ScopeReleaseFilter | undefined {
    const held = this.holding.get(ctx.job.id);
    if (!held) return undefined;
    this.holding.delete(ctx.job.id);
    return { ids: held, kind: 'dispatch', attemptId: ctx.job.id, owner: ctx.token.owner };
  }

  /**
   * Takes every lock (and a slot of the key, when asked) or none: one insert for all, then each
   * conflict is resolved (held by the same job, taken over from a dead holder, or busy); a held
   * slot sends the job on to the key's other slots. On busy or error, gives back what it took.
   * With a session (enqueue scopes of a put in the caller's transaction), every read and write
   * goes through it.
   */
  private async acquire(
    locks: ScopeLockDocument[],
    now: Date,
    slot?: SlotRequest,
    options: SessionOptions = {},
  ): Promise<Acquisition> {
    const store = this.scopes;
    // Every lock tried, to give back on busy or error; its tokens are this acquisition's.
    const tried = slot ? [...locks, slot.first] : [...locks];
    const settle: SettleLock = (lock, known) => this.resolve(lock, now, known, options);
    try {
      const conflicts = new Set(await store.scopeInsert(tried, options));
      const taken = tried.filter((l) => !conflicts.has(l._id));
      for (const lock of locks) {
        if (!conflicts.has(lock._id)) continue;
        const outcome = await settle(lock);
        if (outcome === 'taken') taken.push(lock);
        else if (outcome !== 'held-by-self') {
          await store.scopeRelease([tokenFilter(tried)], options);
          return { taken: [], busy: { lock, held: outcome } };
        }
      }
      if (slot && conflicts.has(slot.first._id)) {
        const got = await takeSlot({ store, ...slot, settle, tried });
        if ('busy' in got) {
          await store.scopeRelease([tokenFilter(tried)]);
          return { taken: [], busy: { lock: slot.first, held: got.busy } };
        }
        taken.push(got.taken);
      }
      return { taken };
    } catch (err) {
      // Our tokens are unique to this acquisition: deleting by them never touches another's lock.
      // (Inside a transaction that failed, the rollback takes them back anyway.)
      await store.scopeRelease([tokenFilter(tried)], options).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Settles one contended lock: 'taken', 'held-by-self', or the live holder's lock (busy).
   * `known`: the lock's document as the caller just read it (null: free), saving the first read.
   */
  private async resolve(
    lock: ScopeLockDocument,
    now: Date,
    known?: ScopeLockDocument | null,
    options: SessionOptions = {},
  ): Promise<LockOutcome> {
    const store = this.scopes;
    let held: ScopeLockDocument | null = null;
    for (let i = 0; i < TAKE_TRIES; i++) {
      held = i === 0 && known !== undefined ? known : await store.scopeGet(lock._id, options);
      if (!held) {
        // Released meanwhile: try again to insert it.
        if ((await store.scopeInsert([lock], options)).length === 0) return 'taken';
        continue;
      }
      if (held.holder === lock.holder) {
        // Held at put by this very job: it covers the dispatch scope too.
        if (held.kind === 'enqueue') return 'held-by-self';
        // Left by an earlier run of this attempt, whose lock was lost (we hold the claim now).
        if (lock.kind === 'dispatch' && held.attemptId === lock.attemptId) {
          if (await store.scopeTakeOver({ lock, expectedToken: held.token })) return 'taken';
          continue;
        }
      }
      if (await this.holderLive(held, now, options)) return held;
      if (await store.scopeTakeOver({ lock, expectedToken: held.token }, options)) return 'taken';
    }
    return held ?? lock;
  }

  /** Whether the holder of `held` still has a claim to it. */
  private async holderLive(
    held: ScopeLockDocument,
    now: Date,
    options: SessionOptions = {},
  ): Promise<boolean> {
    const t = now.getTime();
    if (held.kind === 'dispatch') {
      // Before its recorded expiry the holder is presumed live: no read on the busy path.
      if (held.expiresAt.getTime() > t) return true;
      const doc = await this.jobs.jobGet(held.attemptId, options);
      const lockExpiresAt = doc?.status.lockExpiresAt;
      if (
        !doc ||
        doc.state !== 'running' ||
        doc.status.owner !== held.owner ||
        !lockExpiresAt ||
        lockExpiresAt.getTime() <= t
      ) {
        return false;
      }
      // Still running with a live lock: remember its new expiry so others skip the read (not
      // from inside a caller's transaction: a write to another job's lock could only conflict).
      if (!options.session) {
        await this.scopes.scopeRefresh({
          id: held._id,
          token: held.token,
          expiresAt: lockExpiresAt,
        });
      }
      return true;
    }
    const latest = await this.jobs.jobGetLatest(held.holder, options);
    if (!latest) return held.expiresAt.getTime() > t;
    return !isFinal(latest.state);
  }
}

/** A filter releasing exactly the acquisitions these locks belong to. */
function tokenFilter(locks: ScopeLockDocument[]): ScopeReleaseFilter {
  return { ids: unique(locks.map((l) => l._id)), tokens: unique(locks.map((l) => l.token)) };
}
