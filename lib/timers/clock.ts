/**
 * The clock every process agrees on. Due times, lock expiries, stale locks, scope liveness,
 * presence, rate windows and schedule ticks are compared across processes, so they must come from
 * one clock: the database server's, never a worker's (lib/store/mongo/server-clock.ts measures
 * it). A store offers its clock (`JobStore.clock`); the in-memory store, which lives in one
 * process, offers the process's own. The `now` options of queues, groups and schedulers default
 * to it and stay injectable for tests.
 */

/** A source of the current time shared by every process of a deployment. */
export interface Clock {
  /**
   * The current time. Synchronous: the offset to the reference is kept up to date in the
   * background. A function property bound to its clock (it may be passed around as is), the same
   * function every time, so that users of one clock can tell they share it.
   */
  readonly now: () => Date;
  /**
   * Resolves once the clock has been set against its reference at least once (at once for a
   * local clock); rejects when the reference cannot be reached (the caller retries).
   */
  ready(): Promise<void>;
}

/** The process's own clock: for the in-memory store (one process, nothing to agree with). */
export const systemClock: Clock = {
  now: () => new Date(),
  ready: () => Promise.resolve(),
};
