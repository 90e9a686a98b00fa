/**
 * Lock keeping of a runner pool. Every `heartbeatMs` the locks of all the pool's runs are
 * refreshed in one write; a run whose lock was lost is aborted with LockLostError (its outcome
 * is then dropped), and one whose abort was requested by ID with JobAbortedError. Between
 * heartbeats a finer timer self-fences: a run whose lock is about to expire because no heartbeat
 * got through (a cut connection) is aborted as lost, so it stops before another worker may take
 * the job over.
 */
import { JobAbortedError, LockLostError, toError } from '../errors';
import type { HeldAttempt, PoolContext } from './attempt';
import { BackgroundPasses } from '../timers/background-passes';

/** What the keeper reads and updates of a run. */
export type HeldLock = Pick<HeldAttempt, 'token' | 'controller' | 'finishing' | 'lockExpiresAt'>;

/** Keeps the locks of the runs in `held` (the pool's running attempts, by job ID). */
export class LockKeeper {
  private readonly passes: BackgroundPasses;

  constructor(
    private readonly pool: Pick<PoolContext, 'store' | 'owner' | 'opts' | 'emit' | 'log'>,
    private readonly held: ReadonlyMap<string, HeldLock>,
  ) {
    this.passes = new BackgroundPasses(pool.log, 'lock keeper');
  }

  /**
   * A run stops this long before its lock runs out when no heartbeat got through (a cut
   * connection): it must end before another worker may take the job over.
   */
  private get fenceMarginMs(): number {
    return Math.min(this.pool.opts.heartbeatMs / 2, this.pool.opts.lockTimeoutMs / 4);
  }

  /** How often runs are checked against their lock expiry (well inside the margin). */
  private get fenceEveryMs(): number {
    return Math.max(5, this.fenceMarginMs / 2);
  }

  /** True when a lock expiring at `lockExpiresAt` (ms) is as good as gone: too late to start. */
  tooLateToStart(lockExpiresAt: number): boolean {
    return lockExpiresAt - this.pool.opts.now().getTime() < this.fenceMarginMs;
  }

  /** Starts the heartbeat and the fence timers. */
  start(): void {
    this.passes.every('heartbeat', this.pool.opts.heartbeatMs, () => this.heartbeat());
    // Checked more often than heartbeats are sent, so a run is stopped close to (and before)
    // its lock's expiry rather than up to a whole heartbeat early.
    this.passes.every('fence', this.fenceEveryMs, async () => this.fence());
  }

  /** Stops both timers at once; resolves once a heartbeat under way has returned. */
  stop(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * Self-fencing: a run whose lock is about to run out because no heartbeat got through (the
   * database is unreachable) is aborted as lost, so it stops before another worker may take the
   * job over. Runs even while a heartbeat hangs.
   */
  private fence(): void {
    const limit = this.pool.opts.now().getTime() + this.fenceMarginMs;
    for (const [id, r] of this.held) {
      if (r.finishing || r.controller.signal.reason instanceof LockLostError) continue;
      if (r.lockExpiresAt <= limit) {
        this.pool.log.warn({ jobId: id }, 'lock could not be refreshed in time: run aborted');
        r.controller.abort(new LockLostError(id, this.pool.owner));
      }
    }
  }

  private async heartbeat(): Promise<void> {
    const { store, owner, opts } = this.pool;
    // Aborted jobs keep their lock while they stop (nobody may run them again meanwhile); only
    // runs that lost their lock are no longer ours to refresh.
    const held = [...this.held.values()].filter(
      (r) => !r.finishing && !(r.controller.signal.reason instanceof LockLostError),
    );
    if (held.length === 0) return;
    try {
      const lockExpiresAt = new Date(opts.now().getTime() + opts.lockTimeoutMs);
      const res = await store.jobHeartbeat({
        owner,
        jobs: held.map((r) => r.token),
        lockExpiresAt,
      });
      const lost = new Set(res.lost);
      for (const r of held) if (!lost.has(r.token.id)) r.lockExpiresAt = lockExpiresAt.getTime();
      // Act only on the runs this heartbeat spoke for: the same job may have been released and
      // claimed again by this pool meanwhile, under a new token.
      const sent = new Set(held);
      for (const id of res.lost) {
        const r = this.held.get(id);
        if (r && sent.has(r) && !r.finishing) r.controller.abort(new LockLostError(id, owner));
      }
      for (const id of res.abortRequested) {
        const r = this.held.get(id);
        if (r && sent.has(r) && !r.controller.signal.aborted) {
          r.controller.abort(new JobAbortedError(id, 'abort requested by ID'));
        }
      }
    } catch (err) {
      this.pool.emit('error', toError(err));
      this.pool.log.warn({ err }, 'heartbeat failed');
    }
  }
}
