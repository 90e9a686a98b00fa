/**
 * Runs one claimed attempt: checks its dispatch deadline, asks the extensions whether it may
 * start, gives the job its context (signal, logger, progress, log) under a max-time timer that
 * holds even when the run ignores its signal (hard-time-limit.ts), and maps what happened (it
 * returned, threw anything, or was aborted, and why) to the outcome it asks for (outcome-of.ts).
 * Writing that outcome is the recorder's (outcome-recorder.ts).
 */
import type { Logger } from 'pino';
import {
  attemptContext,
  attemptInfo,
  type HeldAttempt,
  type PoolContext,
  type RequestedOutcome,
} from './attempt';
import { DispatchExpiredError, LockLostError, toError } from '../errors';
import type { AttemptContext, StartVerdict } from '../extension';
import type { JobContext } from '../job/base-job';
import { messageOf } from '../job/error-record';
import { backoffMs } from '../timers/sleep';
import { maxTimeTimer, settleRun } from './hard-time-limit';
import { outcomeOf, startRun, type RunEnd } from './outcome-of';
import { committedOutcome, completeInTransaction } from './transactional-outcome';

/** The verdict of an attempt no extension holds back (shared: verdicts are never changed). */
const RUN: StartVerdict = { action: 'run' };

/** Runs the attempts of one pool. */
export class AttemptExecutor {
  constructor(private readonly pool: PoolContext) {}

  /**
   * The steps before a run: the dispatch deadline and the extensions' start verdicts. Returns
   * the outcome to record when the attempt may not run, or null when it may ('claimed' emitted).
   * A caller that runs jobs itself (`Queue.next()`) passes through the same steps.
   */
  async admit(entry: HeldAttempt): Promise<RequestedOutcome | null> {
    const { job } = entry;
    const { opts, log } = this.pool;
    if (job.timeInfo.dispatchBy && job.timeInfo.dispatchBy < opts.now()) {
      job.addError(new DispatchExpiredError(job.id, job.timeInfo.dispatchBy));
      return { state: 'expired' };
    }
    let verdict: StartVerdict;
    try {
      verdict = await this.startVerdict(entry);
    } catch (err) {
      // An extension failed (e.g. its store is unreachable): give the job back, untouched.
      this.pool.emit('error', toError(err));
      log.warn({ err, jobId: job.id }, 'a beforeStart hook failed: job released');
      return { state: 'pending', delayMs: backoffMs(0, opts.pollMaxMs, opts.pollMaxMs) };
    }
    switch (verdict.action) {
      case 'release':
        return { state: 'pending', delayMs: verdict.delayMs };
      case 'block':
        return { state: 'blocked' };
      case 'finish':
        if (verdict.error) job.addError(verdict.error);
        return { state: verdict.state };
    }
    this.pool.emit('claimed', attemptInfo(this.pool.queue, job));
    return null;
  }

  /**
   * Runs an admitted attempt and maps how it ended to the outcome it asks for. A run whose
   * signal fired (max time, abort, shutdown, lost lock) and that goes on for `abortGraceMs` is
   * given up: its slot is freed and what it does later is dropped.
   */
  async perform(entry: HeldAttempt): Promise<RequestedOutcome | undefined> {
    const { job, controller } = entry;
    // Made when first used: most runs log nothing, and a child logger per job cost ~2 µs.
    let child: Logger | undefined;
    const logger = (): Logger =>
      (child ??= this.pool.log.child({
        jobId: job.id,
        type: job.type.name,
        attempt: job.retryInfo.currentAttempt,
      }));
    const cancelTimer = maxTimeTimer(controller, job.id, job.timeInfo.maxTimeMs);
    const errorsBefore = job.status.errCount;
    let end: RunEnd;
    try {
      const ctx = this.jobContext(entry, logger);
      const run = startRun(() =>
        this.pool.opts.tracing.attempt(this.pool.queue, job, controller.signal, () =>
          this.pool.runJob(job, ctx),
        ),
      );
      end = await settleRun(run, controller.signal, this.pool.opts.abortGraceMs);
    } finally {
      cancelTimer();
    }
    if (entry.committed) {
      // Its transaction committed the completion; what run() returned is stored after it.
      if (end.kind === 'returned' && end.value !== undefined) job.returnValue = end.value;
      return committedOutcome(end.kind === 'threw' ? end.error : undefined, logger());
    }
    const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
    if (end.kind === 'hung') {
      logger().warn(
        { reason: messageOf(reason), graceMs: this.pool.opts.abortGraceMs },
        'run ignored its abort signal: given up (slot freed, its late outcome dropped)',
      );
    }
    if (reason instanceof LockLostError) {
      logger().warn('lock lost: outcome dropped');
      this.pool.emit('lock-lost', attemptInfo(this.pool.queue, job));
      return undefined;
    }
    return outcomeOf(job, end, reason, errorsBefore);
  }

  /** Asks every extension; the first verdict other than 'run' wins. */
  private async startVerdict(entry: HeldAttempt): Promise<StartVerdict> {
    let ctx: AttemptContext | undefined;
    for (const ext of this.pool.extensions) {
      if (!ext.beforeStart) continue;
      const verdict = await ext.beforeStart((ctx ??= attemptContext(this.pool, entry)));
      if (verdict.action !== 'run') return verdict;
    }
    return RUN;
  }

  /** What the job's `run` gets: its signal, a logger, and a progress call that never fails it. */
  private jobContext(entry: HeldAttempt, logger: () => Logger): JobContext {
    const { job, controller } = entry;
    const { store, opts, queue } = this.pool;
    return {
      signal: controller.signal,
      get logger() {
        return logger();
      },
      queue,
      attempt: job.retryInfo.currentAttempt,
      log: (message) => {
        job.appendLog(message);
        logger().info({ jobLog: true }, typeof message === 'string' ? message : messageOf(message));
      },
      progress: async (percent, message) => {
        const p = Math.max(0, Math.min(100, percent));
        job.status.progress = p;
        if (message !== undefined) job.status.progressMessage = message;
        if (entry.finishing || controller.signal.aborted) return;
        try {
          const write = store.jobProgress({
            token: entry.token,
            progress: p,
            message,
            now: opts.now(),
          });
          // A write hanging on a stalled connection must not keep an aborted (e.g. fenced) run
          // from stopping: the job gets control back as soon as its signal fires.
          if (!(await untilAborted(write, controller.signal))) return;
        } catch (err) {
          // Progress is informative: a lost write (a cut connection) must not fail the job.
          logger().warn({ err }, 'progress not stored');
          return;
        }
        this.pool.emit('progress', { ...attemptInfo(queue, job), progress: p, message });
      },
      transaction: (fn, options) => completeInTransaction(this.pool, entry, fn, options),
    };
  }
}

/** Waits for `p`; resolves false early (leaving `p` to settle alone) if `signal` fires first. */
async function untilAborted(p: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => undefined);
  try {
    return await Promise.race([p.then(() => true as const), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
