/**
 * Transactional completion, `ctx.transaction(fn)`: the job's own writes and the record of its
 * completion in one MongoDB transaction. `fn` runs with the transaction's session; then, in the
 * same transaction, the attempt is written `completed` by the guarded write every outcome uses
 * (owner + modCount, the fencing token), and the transaction commits. So:
 *
 * - a run whose lock was lost (reclaimed by another worker, fenced) commits nothing: the guard
 *   matches nothing, the transaction is aborted, and the run's outcome is dropped as for any
 *   lost lock; a run aborted (by ID, max time, shutdown) before the commit commits nothing;
 * - once committed, the attempt is completed and its writes are in: when `run` returns, only the
 *   events and the extensions' `afterFinish` remain (the recorder writes nothing more);
 * - write conflicts and transient errors abort the transaction and run `fn` again in a new one
 *   (the store's `transactionRun`), so its writes through the session happen exactly once;
 * - what `fn` does outside MongoDB (an e-mail, an HTTP call) is not undone by an abort and may
 *   happen again on a retry or on another attempt: at least once, as without a transaction.
 */
import type { ClientSession } from 'mongodb';
import type { Logger } from 'pino';
import { InvalidArgumentError, JobStateError, LockLostError } from '../errors';
import {
  JOB_TRANSACTION_RETRY_MS_DEFAULT,
  JOB_TRANSACTION_RETRY_MS_MAX,
  type BaseJob,
  type JobTransactionOptions,
} from '../job/base-job';
import type { HeldAttempt, PoolContext, RequestedOutcome } from './attempt';
import type { JobUpdate } from '../store/job-store';
import { checkNumber } from '../validate';

/** What `ctx.transaction` does for the attempt `entry` of `pool`; see the module comment. */
export async function completeInTransaction<T>(
  pool: PoolContext,
  entry: HeldAttempt,
  fn: (session: ClientSession) => Promise<T>,
  options: JobTransactionOptions = {},
): Promise<T> {
  const { job, controller, token } = entry;
  if (typeof fn !== 'function')
    throw new InvalidArgumentError('ctx.transaction expects a function');
  const retryTimeoutMs = checkNumber(
    'retryTimeoutMs',
    options.retryTimeoutMs ?? JOB_TRANSACTION_RETRY_MS_DEFAULT,
    0,
    JOB_TRANSACTION_RETRY_MS_MAX,
  );
  if (entry.committed || entry.finishing) {
    const state = entry.committed ? 'completed' : 'finishing';
    throw new JobStateError(job.id, state, 'ctx.transaction', pool.queue);
  }
  controller.signal.throwIfAborted();
  try {
    const { value, modCount } = await pool.store.transactionRun(
      async (session) => {
        controller.signal.throwIfAborted();
        const value = await fn(session);
        if (!session.inTransaction()) {
          throw new InvalidArgumentError('ctx.transaction: fn ended the transaction itself');
        }
        // Aborted while fn ran (by ID, max time, a lost heartbeat): commit nothing.
        controller.signal.throwIfAborted();
        const now = pool.opts.now();
        const update = completion(pool, job, now);
        const modCount = await pool.store.jobWrite({ token, update, now }, { session });
        if (modCount === null) throw new LockLostError(job.id, token.owner);
        return { value, modCount };
      },
      { retryTimeoutMs, signal: controller.signal },
    );
    entry.committed = true;
    // The attempt is completed in the database: heartbeats no longer speak for it.
    entry.finishing = true;
    job.status.modCount = modCount;
    job.status.completed = true;
    return value;
  } catch (err) {
    // The guard matched nothing: the run is fenced and its outcome dropped, as for a lost heartbeat.
    if (err instanceof LockLostError && !controller.signal.aborted) controller.abort(err);
    throw err;
  }
}

/** The guarded write of a completion, as the recorder writes one (with the job's result). */
function completion(pool: PoolContext, job: BaseJob, now: Date): JobUpdate {
  const payload = pool.opts.registry.changedPayload(job);
  const update: JobUpdate = {
    state: 'completed',
    errors: job.status.errors,
    errCount: job.status.errCount,
    inProgress: false,
    end: now,
    completed: true,
    progress: 100,
    retryEnd: now,
  };
  if (payload) update.payload = payload;
  return update;
}

/**
 * The outcome of a run whose completion a transaction committed: completed, whatever the run
 * did afterwards (an error thrown after the commit is logged; the attempt stays completed).
 */
export function committedOutcome(thrown: unknown, logger: Logger): RequestedOutcome {
  if (thrown !== undefined) {
    logger.warn({ err: thrown }, 'run threw after its transaction committed: it stays completed');
  }
  return { state: 'completed' };
}
