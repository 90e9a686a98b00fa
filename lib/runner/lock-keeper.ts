/**
 * Lock keeping of a runner pool. Every `heartbeatMs` the locks of all the pool's runs are
 * refreshed in one write; a run whose lock was lost is aborted with LockLostError (its outcome
 * is then dropped), and one whose abort was requested by ID with JobAbortedError. Between
 * heartbeats a finer timer self-fences: a run whose lock is about to expire because no heartbeat
 * got through (a cut connection) is aborted as lost, so it stops before another worker may take
 * the job over.
 *
 * On a slow link a heartbeat's round trip may last longer than `heartbeatMs`: heartbeats are then
 * pipelined (the next one leaves on time, up to a few under way), each sets the lock to expire
 * `lockTimeoutMs` after it was sent (the store never moves a lock back, so one overtaken by a
 * later one changes nothing), and the fence reckons from the expiry written by the last
 * acknowledged heartbeat, on the server's clock. A run whose claim leaves too little of its lock
 * for the next regular heartbeat to come back in time gets one of its own at once.
 */
import { JobAbortedError, LockLostError, toError } from '../errors';
import type { HeldAttempt, PoolContext } from './attempt';

/** What the keeper reads and updates of a run. */
export type HeldLock = Pick<HeldAttempt, 'token' | 'controller' | 'finishing' | 'lockExpiresAt'>;

/** Heartbeats under way at most (more means the link is down: piling up more would not help). */
const HEARTBEATS_IN_FLIGHT_MAX = 4;

/** Keeps the locks of the runs in `held` (the pool's running attempts, by job ID). */
export class LockKeeper {
  /** Between `start` and `stop`. */
  private active = false;
  /** The heartbeat and fence timers: running only while the pool holds runs (idle costs nothing). */
  private beatTimer?: NodeJS.Timeout;
  private fenceTimer?: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Round trip of recent heartbeats (rises at once, falls slowly), in ms; until one came back,
   * as long as a lock (so the first run gets a heartbeat of its own at once).
   */
  private roundTripMs: number;
  /** Whether a heartbeat came back yet (`roundTripMs` is measured). */
  private acked = false;
  /** A heartbeat asked for by `started`, about to leave. */
  private beatSoon?: NodeJS.Immediate;

  constructor(
    private readonly pool: Pick<PoolContext, 'store' | 'owner' | 'opts' | 'emit' | 'log'>,
    private readonly held: ReadonlyMap<string, HeldLock>,
  ) {
    this.roundTripMs = pool.opts.lockTimeoutMs;
  }

  /**
   * A run stops this long before its lock runs out when no heartbeat got through (a cut
   * connection): it must end before another worker may take the job over. Every process reads
   * the database server's clock, so the margin covers the little they disagree (half a round
   * trip at most) and the run's reaction to its signal; more would only take time from slow
   * links, whose heartbeats need it to come back.
   */
  private get fenceMarginMs(): number {
    return Math.min(this.pool.opts.heartbeatMs / 4, this.pool.opts.lockTimeoutMs / 8);
  }

  /** How often runs are checked against their lock expiry (well inside the margin). */
  private get fenceEveryMs(): number {
    return Math.max(5, this.fenceMarginMs / 2);
  }

  /** True when a lock expiring at `lockExpiresAt` (ms) is as good as gone: too late to start. */
  tooLateToStart(lockExpiresAt: number): boolean {
    return lockExpiresAt - this.pool.opts.now().getTime() < this.fenceMarginMs;
  }

  /** Lets the keeper run: its timers start with the first run (see `started`). */
  start(): void {
    this.active = true;
  }

  /** Stops both timers at once; resolves once the heartbeats under way have returned. */
  async stop(): Promise<void> {
    this.active = false;
    this.pause();
    clearImmediate(this.beatSoon);
    this.beatSoon = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Starts the timers if they are not running. */
  private resume(): void {
    if (!this.active || this.beatTimer) return;
    this.beatTimer = setInterval(() => this.beat(), this.pool.opts.heartbeatMs);
    // Checked more often than heartbeats are sent, so a run is stopped close to (and before)
    // its lock's expiry rather than up to a whole heartbeat early.
    this.fenceTimer = setInterval(() => this.fence(), this.fenceEveryMs);
  }

  /** Stops the timers (nothing held, or stopping). */
  private pause(): void {
    clearInterval(this.beatTimer);
    clearInterval(this.fenceTimer);
    this.beatTimer = this.fenceTimer = undefined;
  }

  /**
   * A run just started with the lock its claim took: when the next regular heartbeat may not come
   * back before the fence would stop it, one is sent now.
   */
  started(run: HeldLock): void {
    this.resume();
    const { heartbeatMs } = this.pool.opts;
    const left = run.lockExpiresAt - this.fenceMarginMs - this.pool.opts.now().getTime();
    this.pool.log.debug({ jobId: run.token.id, left }, 'run started');
    if (left >= heartbeatMs + this.roundTripMs || this.beatSoon) return;
    // After the other runs of the same claim are launched: one heartbeat for all of them.
    this.beatSoon = setImmediate(() => {
      this.beatSoon = undefined;
      this.beat();
    });
  }

  /** Sends a heartbeat unless too many are under way already (the link is down). */
  private beat(): void {
    if (this.held.size === 0) return this.pause();
    if (this.beatTimer === undefined || this.inFlight.size >= HEARTBEATS_IN_FLIGHT_MAX) return;
    const sent = this.heartbeat().finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
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
      const sentAt = performance.now();
      const lockExpiresAt = new Date(opts.now().getTime() + opts.lockTimeoutMs);
      const res = await store.jobHeartbeat({
        owner,
        jobs: held.map((r) => r.token),
        lockExpiresAt,
      });
      const rtt = performance.now() - sentAt;
      this.pool.log.debug(
        { jobs: held.length, roundTripMs: Math.round(rtt) },
        'heartbeat acknowledged',
      );
      this.roundTripMs = this.acked ? Math.max(rtt, 0.8 * this.roundTripMs + 0.2 * rtt) : rtt;
      this.acked = true;
      const lost = new Set(res.lost);
      // Acknowledged: the lock lasts at least until then (a later heartbeat may have said more).
      for (const r of held) {
        if (!lost.has(r.token.id))
          r.lockExpiresAt = Math.max(r.lockExpiresAt, lockExpiresAt.getTime());
      }
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
