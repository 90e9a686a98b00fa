/**
 * The claim round trip of a runner pool: the extensions that limit claims (rate limits) grant a
 * number first, the store claims at most that many (suspects only, or none of them: see
 * `JobClaimParams.suspects`), and what went unused goes back to the grants. The pool's loop,
 * `runDue` and caller-run attempts (caller-attempts.ts) all claim through it. Also what the pool
 * asks before a claim: whether claims are allowed now (fuses, waiting hooks) and which job types
 * not to claim.
 */
import type { ClaimGrant } from '../extension';
import type { PoolContext } from './attempt';
import type { JobClaimParams } from '../store/job-store';
import type { JobDocument } from '../types';
import type { Wakeable } from '../timers/sleep';

/** Claims for one pool. */
export class Claimer {
  constructor(
    private readonly pool: Pick<
      PoolContext,
      'store' | 'queue' | 'owner' | 'opts' | 'extensions' | 'log'
    >,
    /** The pool's wait, so that close ends a rate limit's wait at once. */
    private readonly wakeable: Wakeable,
  ) {}

  /**
   * Up to `want` attempts, suspects only when `suspect`, none otherwise; null when a rate limit
   * granted nothing (after waiting until it may). Throws when the store does.
   */
  async claim(want: number, suspect: boolean): Promise<JobDocument[] | null> {
    await this.pool.store.clock.ready();
    const now = this.pool.opts.now();
    const batch = await this.claimBatch(want, now, suspect ? 'only' : 'skip');
    if (!batch.refused) return batch.docs;
    await this.sleepUntilGranted(batch.refused, now);
    return null;
  }

  /**
   * One claim round trip of up to `want` attempts (`suspects` as in `JobClaimParams`), within
   * what the claim-limiting extensions grant (unused grants are given back). `refused` when a
   * grant of 0 stopped it before the claim: the grants to wait on, already given back.
   */
  async claimBatch(
    want: number,
    now: Date,
    suspects?: JobClaimParams['suspects'],
  ): Promise<{ docs: JobDocument[]; refused?: ClaimGrant[] }> {
    const { store, queue, owner, opts } = this.pool;
    let docs: JobDocument[] = [];
    let grants: ClaimGrant[] = [];
    try {
      grants = await this.grants(want, now);
      const limit = Math.min(want, ...grants.map((g) => g.granted));
      if (limit === 0) {
        // What others granted goes back before the caller sleeps, not after.
        const refused = grants;
        grants = [];
        await this.giveBack(refused, 0);
        return { docs, refused };
      }
      docs = await store.jobClaim({
        queue,
        owner,
        now,
        lockTimeoutMs: opts.lockTimeoutMs,
        limit,
        excludeTypes: this.excludedTypes(),
        suspects,
        lockFromUpdate: true,
      });
      return { docs };
    } finally {
      await this.giveBack(grants, docs.length);
    }
  }

  /** False while an extension (a fuse, a waiting hook) holds claims back. */
  claimAllowed(): boolean {
    return this.pool.extensions.every((e) => e.claimAllowed?.(this.pool.queue) ?? true);
  }

  /** Job types not to claim now: the queue's own plus the extensions' (fuses). */
  excludedTypes(): string[] {
    const { extensions, queue, opts } = this.pool;
    const extra = extensions.flatMap((e) => e.excludedTypes?.(queue) ?? []);
    return extra.length === 0 ? opts.excludeTypes : [...new Set([...opts.excludeTypes, ...extra])];
  }

  /**
   * Asks the extensions that limit claims (rate limits) in turn, each for what the previous one
   * granted; stops at a grant of 0.
   */
  private async grants(want: number, now: Date): Promise<ClaimGrant[]> {
    const grants: ClaimGrant[] = [];
    for (const ext of this.pool.extensions) {
      if (!ext.claimGrant) continue;
      const grant = await ext.claimGrant(this.pool.queue, want, now);
      grants.push(grant);
      want = Math.min(want, grant.granted);
      if (want === 0) break;
    }
    return grants;
  }

  /** Gives every grant back what the claim did not use; a failure only wastes the claims. */
  private async giveBack(grants: ClaimGrant[], claimed: number): Promise<void> {
    for (const g of grants) {
      if (g.granted <= claimed || !g.giveBack) continue;
      await g.giveBack(g.granted - claimed).catch((err: unknown) => {
        this.pool.log.warn({ err }, 'giving back unused claims failed');
      });
    }
  }

  /** Nothing granted: sleeps until the earliest time a grant may come (woken by close). */
  private async sleepUntilGranted(grants: ClaimGrant[], now: Date): Promise<void> {
    const { pollMaxMs, pollMinMs } = this.pool.opts;
    const at = Math.min(...grants.map((g) => g.retryAt?.getTime() ?? Infinity));
    const ms = Number.isFinite(at) ? at - now.getTime() : pollMaxMs;
    // A little jitter, so that processes waiting on one window do not all ask at its first ms.
    await this.wakeable.sleep(Math.max(1, ms) + Math.floor(Math.random() * pollMinMs));
  }
}
