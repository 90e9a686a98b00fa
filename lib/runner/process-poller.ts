/**
 * One poll per process for all its queues. A runner pool claims back to back while its queue has
 * work; once a claim comes back empty the pool goes idle and waits. Idle pools do not poll: this
 * poller asks the store, in one index-served read for all the pools registered with it
 * (`JobStore.jobProbe`), which queues have due work, stale locks or documents no claim can see,
 * wakes the pools that have work, and has the others reclaim or quarantine. Its period backs off
 * from the smallest `pollMinMs` to the smallest `pollMaxMs` of its pools while nothing turns up,
 * so an idle process sends about one command per `pollMaxMs`, whatever the number of its queues.
 * A put in the same process, or an insert seen by a change stream, wakes the pool at once.
 *
 * It also runs the queues' periodic upkeep, merged and spread: every `reclaimEveryMs` (the
 * smallest of its pools) it runs ONE extension's `maintainQueues` for all the queues that have
 * that extension (or `maintain` per queue, for extensions that only have that), in turn.
 *
 * And it keeps faults with the job at fault: an attempt whose lock was lost before (a suspect: its
 * worker died while it ran, maybe because of it) is claimed only when the process runs nothing
 * else, and nothing else starts while it runs. A job that kills its worker process then takes no
 * batch-mate down with it; the lock-loss count of an innocent batch-mate stops at one.
 */
import type { Logger } from 'pino';
import { toError } from '../errors';
import type { QueueExtension } from '../extension';
import type { JobStore } from '../store/job-store';
import { PROBE_LIMIT_DEFAULT } from '../store/job-probe';

/** What the poller needs of a runner pool. */
export interface PolledPool {
  readonly queue: string;
  readonly opts: {
    readonly now: () => Date;
    readonly pollMinMs: number;
    readonly pollMaxMs: number;
    readonly reclaimEveryMs: number;
  };
  readonly extensions: readonly QueueExtension[];
  /** Attempts the pool holds (running, or stopping after a lost lock). */
  heldCount(): number;
  /** Ends the pool's wait: due work was seen, or claims may go on again. */
  wake(): void;
  /** The process runs nothing and a suspect is due in the pool's queue: claim one, alone. */
  wakeForSuspect(): void;
  /** A poll found nothing due in the pool's queue (it is idle). */
  nothingDue(): void;
  /** The queue has stale locks: reclaim them. Never throws. */
  reclaim(): Promise<void>;
  /** The queue has documents no claim takes: quarantine them. Never throws. */
  quarantineMalformed(): Promise<void>;
  /** An upkeep pass of `extension` failed on the pool's queue(s): report it. */
  upkeepFailed(err: Error, extension: string): void;
}

/** A wake that found nothing to claim makes the poller skip the queue for 2^misses polls. */
const QUIET_MISSES_MAX = 4;
/** Each poll waits its period times a factor in [1 - JITTER, 1], so processes do not poll in step. */
const POLL_JITTER = 0.1;

/** State of the suspect gate (see the module comment). */
type SuspectGate = 'open' | 'claiming' | 'running';

/** The poller of one process (one per queue group; a queue outside a group has its own). */
export class ProcessPoller {
  private readonly pools = new Set<PolledPool>();
  private readonly idle = new Set<PolledPool>();
  /** Pools woken for due work whose claim has not come back yet. */
  private readonly woken = new Set<PolledPool>();
  /** Pools whose wake found nothing to claim: polls left to skip, and misses in a row. */
  private readonly quiet = new Map<PolledPool, { skip: number; misses: number }>();
  /** Queues with a due suspect at the last poll, by name. */
  private suspectQueues: string[] = [];
  private gate: SuspectGate = 'open';
  private claimsInFlight = 0;
  private emptyPolls = 0;
  private rota = 0;
  private pollTimer?: NodeJS.Timeout;
  private pollAt = Infinity;
  private upkeepTimer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private upkeeping?: Promise<void>;

  constructor(
    private readonly store: JobStore,
    private readonly log: Logger,
    private readonly probeLimit = PROBE_LIMIT_DEFAULT,
  ) {}

  /** Starts polling for `pool` (it starts idle: the next poll tells it whether work is due). */
  add(pool: PolledPool): void {
    this.pools.add(pool);
    this.idle.add(pool);
    // Many pools starting together share one poll.
    this.schedulePoll(0);
    this.scheduleUpkeep();
  }

  /** Stops polling for `pool`; resolves once no poll or upkeep pass under way can touch it. */
  async remove(pool: PolledPool): Promise<void> {
    this.pools.delete(pool);
    this.idle.delete(pool);
    this.woken.delete(pool);
    this.quiet.delete(pool);
    if (this.pools.size === 0) {
      clearTimeout(this.pollTimer);
      clearTimeout(this.upkeepTimer);
      this.pollTimer = this.upkeepTimer = undefined;
      this.pollAt = Infinity;
    }
    await Promise.allSettled([this.polling, this.upkeeping]);
    this.maybeRunSuspect();
  }

  /** The pool waits for work (true) or claims (false). */
  setIdle(pool: PolledPool, idle: boolean): void {
    if (!this.pools.has(pool)) return;
    if (idle) this.idle.add(pool);
    else this.idle.delete(pool);
  }

  /**
   * A normal claim may start now (false while a suspect is claimed or runs); counts it as under
   * way until `endClaim`.
   */
  beginClaim(): boolean {
    if (this.gate !== 'open') return false;
    this.claimsInFlight += 1;
    return true;
  }

  /** A claim begun with `beginClaim` came back with `claimed` attempts. */
  endClaim(pool: PolledPool, claimed: number): void {
    this.claimsInFlight -= 1;
    if (this.woken.delete(pool) && claimed === 0) {
      // Woken for work it could not claim: another process was faster, its types are paused, or
      // the due documents are malformed. Skip it for a while, and look for malformed ones.
      const q = this.quiet.get(pool) ?? { skip: 0, misses: 0 };
      q.misses = Math.min(QUIET_MISSES_MAX, q.misses + 1);
      q.skip = 2 ** q.misses;
      this.quiet.set(pool, q);
      void pool.quarantineMalformed();
    } else if (claimed > 0) {
      this.quiet.delete(pool);
    }
    this.maybeRunSuspect();
  }

  /** A suspect claim may start now: nothing runs or is being claimed in the process. */
  beginSuspectClaim(): boolean {
    if (this.gate !== 'open' || this.claimsInFlight > 0 || this.busy()) return false;
    this.gate = 'claiming';
    return true;
  }

  /** A suspect claim came back; with one, nothing else starts until `suspectDone`. */
  endSuspectClaim(claimed: boolean): void {
    if (claimed) {
      this.gate = 'running';
      return;
    }
    this.gate = 'open';
    this.wakeAll();
  }

  /** The suspect's run is over: claims go on. */
  suspectDone(): void {
    this.gate = 'open';
    this.wakeAll();
    this.maybeRunSuspect();
  }

  /** A run of some pool ended (the process may be empty now). */
  runEnded(): void {
    this.maybeRunSuspect();
  }

  private busy(): boolean {
    for (const p of this.pools) if (p.heldCount() > 0) return true;
    return false;
  }

  private wakeAll(): void {
    for (const p of this.pools) p.wake();
  }

  /** When the process is empty and a suspect is due, lets one pool claim it. */
  private maybeRunSuspect(): void {
    if (this.gate !== 'open' || this.claimsInFlight > 0 || this.suspectQueues.length === 0) return;
    if (this.busy()) return;
    while (this.suspectQueues.length > 0) {
      const name = this.suspectQueues.shift();
      const pool = [...this.pools].find((p) => p.queue === name);
      if (pool) {
        pool.wakeForSuspect();
        return;
      }
    }
  }

  private schedulePoll(ms: number): void {
    if (this.pools.size === 0) return;
    const at = performance.now() + ms;
    if (this.polling || at >= this.pollAt) return;
    clearTimeout(this.pollTimer);
    this.pollAt = at;
    this.pollTimer = setTimeout(() => this.runPoll(), ms);
  }

  /** The next period: from the smallest pollMinMs, doubling while polls find nothing. */
  private period(): number {
    let min = Infinity;
    let max = Infinity;
    for (const p of this.pools) {
      min = Math.min(min, p.opts.pollMinMs);
      max = Math.min(max, p.opts.pollMaxMs);
    }
    const ms = Math.min(max, min * 2 ** Math.min(this.emptyPolls, 30));
    return Math.max(1, Math.round(ms * (1 - POLL_JITTER * Math.random())));
  }

  private runPoll(): void {
    this.pollTimer = undefined;
    this.pollAt = Infinity;
    this.polling = this.poll()
      .catch((err: unknown) => {
        this.emptyPolls += 1;
        this.log.warn({ err }, 'process poll failed');
      })
      .finally(() => {
        this.polling = undefined;
        this.schedulePoll(this.period());
      });
  }

  /** The pools by clock: queues with an injected clock are probed at their own time. */
  private byClock(pools: Iterable<PolledPool>): Map<() => Date, PolledPool[]> {
    const groups = new Map<() => Date, PolledPool[]>();
    for (const p of pools) {
      const list = groups.get(p.opts.now) ?? [];
      list.push(p);
      groups.set(p.opts.now, list);
    }
    return groups;
  }

  private async poll(): Promise<void> {
    let found = false;
    const suspects: string[] = [];
    for (const [now, pools] of this.byClock(this.pools)) {
      const byName = new Map(pools.map((p) => [p.queue, p]));
      const dueIn = pools.filter((p) => this.idle.has(p) && !this.skipQuiet(p));
      const res = await this.store.jobProbe({
        dueIn: dueIn.map((p) => p.queue),
        staleIn: pools.map((p) => p.queue),
        now: now(),
        limit: this.probeLimit,
      });
      const due = new Set(res.due);
      for (const pool of dueIn) {
        if (!due.has(pool.queue)) {
          pool.nothingDue();
          continue;
        }
        if (!this.idle.has(pool)) continue;
        this.woken.add(pool);
        pool.wake();
        found = true;
      }
      suspects.push(...res.suspects);
      const upkeep: Promise<void>[] = [];
      for (const name of res.stale) upkeep.push(byName.get(name)?.reclaim() ?? Promise.resolve());
      for (const name of res.malformed) {
        upkeep.push(byName.get(name)?.quarantineMalformed() ?? Promise.resolve());
      }
      if (upkeep.length > 0) found = true;
      await Promise.all(upkeep);
    }
    this.suspectQueues = suspects;
    if (suspects.length > 0) found = true;
    this.emptyPolls = found ? 0 : this.emptyPolls + 1;
    this.maybeRunSuspect();
  }

  /** True (and counts down) while a pool is skipped after a wake that claimed nothing. */
  private skipQuiet(pool: PolledPool): boolean {
    const q = this.quiet.get(pool);
    if (!q || q.skip === 0) return false;
    q.skip -= 1;
    return true;
  }

  private scheduleUpkeep(): void {
    if (this.upkeepTimer || this.pools.size === 0) return;
    let every = Infinity;
    for (const p of this.pools) every = Math.min(every, p.opts.reclaimEveryMs);
    this.upkeepTimer = setTimeout(() => {
      this.upkeeping = this.upkeep().finally(() => {
        this.upkeeping = undefined;
        this.upkeepTimer = undefined;
        this.scheduleUpkeep();
      });
    }, every);
  }

  /** The extensions with upkeep, each with the pools (queues) that have it. */
  private maintainers(): [QueueExtension, PolledPool[]][] {
    const byExtension = new Map<QueueExtension, PolledPool[]>();
    for (const p of this.pools) {
      for (const ext of p.extensions) {
        if (!ext.maintain && !ext.maintainQueues) continue;
        const list = byExtension.get(ext) ?? [];
        list.push(p);
        byExtension.set(ext, list);
      }
    }
    return [...byExtension];
  }

  /** One upkeep pass: the next extension in turn, for all its queues. */
  private async upkeep(): Promise<void> {
    const all = this.maintainers();
    if (all.length === 0) return;
    const [ext, pools] = all[this.rota++ % all.length];
    for (const [now, group] of this.byClock(pools)) {
      const at = now();
      if (ext.maintainQueues) {
        await ext
          .maintainQueues(
            group.map((p) => p.queue),
            at,
          )
          .catch((err: unknown) => group[0].upkeepFailed(toError(err), ext.name));
        continue;
      }
      for (const p of group) {
        await ext
          .maintain?.(p.queue, at)
          .catch((err: unknown) => p.upkeepFailed(toError(err), ext.name));
      }
    }
  }
}
