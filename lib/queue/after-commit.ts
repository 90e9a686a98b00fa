/**
 * Work to do once the caller's transaction commits: waking the idle pools of this process after
 * a put inside a transaction. Woken before the commit, a pool would find nothing to claim (the
 * jobs are invisible until then) and go back to its idle sleep, the jobs waiting for the next poll.
 *
 * The driver has no commit event, so the session's `commitTransaction` and `abortTransaction`
 * (which `withTransaction` and `endSession` call too) are wrapped, once per session: a commit
 * that succeeds runs what was registered; an abort, or the end of the session, drops it.
 */
import type { ClientSession } from 'mongodb';

/** Where the callbacks of a session are kept: a property of the session itself, not ours. */
const PENDING = Symbol.for('drover.afterCommit');

type Hooked = ClientSession & { [PENDING]?: Set<() => void> };

/**
 * Runs `fn` once the transaction of `session` commits, or at once when there is no session or it
 * is not in a transaction. `fn` must not throw. Registering the same function twice before one
 * commit runs it once.
 */
export function afterCommit(session: ClientSession | undefined, fn: () => void): void {
  if (!session || !session.inTransaction()) {
    fn();
    return;
  }
  pendingOf(session as Hooked).add(fn);
}

function pendingOf(session: Hooked): Set<() => void> {
  const existing = session[PENDING];
  if (existing) return existing;
  const pending = new Set<() => void>();
  session[PENDING] = pending;
  const commit = session.commitTransaction.bind(session);
  const abort = session.abortTransaction.bind(session);
  session.commitTransaction = async (...args) => {
    // A failed commit keeps the callbacks: the driver may retry it, or the caller abort.
    await commit(...args);
    const due = [...pending];
    pending.clear();
    for (const f of due) f();
  };
  session.abortTransaction = async (...args) => {
    pending.clear();
    await abort(...args);
  };
  session.once('ended', () => pending.clear());
  return pending;
}
