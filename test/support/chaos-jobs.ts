/**
 * Job classes of the chaos run (chaos/) and the chaos tests. Every run writes a `start` and an
 * `end` record to an audit collection with a direct driver insert through the audit's own client
 * (not through the severable proxy), so the audit survives connection cuts and shows every run,
 * recorded or not. A run killed by `kill -9` has a `start` and no `end`.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import type { Collection } from 'mongodb';
import { BaseJob, JobType, RetryableError, type JobContext } from '../../lib';

/** One audit record: the start or the end of one run of one attempt. */
export interface AuditRecord {
  kind: 'start' | 'end';
  /** Attempt ID. */
  jobId: string;
  baseJobId: string;
  attempt: number;
  type: string;
  /** The claim: owner and modCount as loaded by the runner (the fencing token of this run). */
  owner: string;
  modCount: number;
  pid: number;
  /** Milliseconds since the epoch (one clock: every process runs on this machine). */
  at: number;
  /** The claim's start time and lock expiry as the runner loaded them (ms since the epoch). */
  claimedAt: number | null;
  lockExpiresAt: number | null;
  scopes: string[];
  edges: string[];
  /** `end` only: whether `run` returned without throwing. */
  ok?: boolean;
  error?: string;
}

/** Name of the audit collection. */
export const AUDIT_COLLECTION = 'audit';

/**
 * Where chaos jobs write their audit: a collection when the worker set one, else memory (tests
 * that run chaos jobs in-process).
 */
export const chaosAudit = {
  collection: undefined as Collection<AuditRecord> | undefined,
  records: [] as AuditRecord[],
  async write(record: AuditRecord): Promise<void> {
    if (this.collection) await this.collection.insertOne({ ...record });
    else this.records.push(record);
  },
  clear(): void {
    this.records = [];
  },
};

/** Kinds of chaos jobs; the plan (chaos/plan.ts) mixes them. */
export type ChaosKind = 'quick' | 'slow' | 'flaky' | 'fail' | 'scoped' | 'dependent';

/** A job that audits each run around `work`. */
abstract class AuditedJob extends BaseJob {
  protected abstract work(ctx: JobContext): Promise<void>;

  async run(ctx: JobContext): Promise<void> {
    const base = {
      jobId: this.id,
      baseJobId: this.baseJobId,
      attempt: ctx.attempt,
      type: this.type.name,
      owner: this.status.owner,
      modCount: this.status.modCount,
      pid: process.pid,
      scopes: [...this.scopes],
      edges: [...this.dependency.edges],
      claimedAt: this.timeInfo.start?.getTime() ?? null,
      lockExpiresAt: this.status.lockExpiresAt?.getTime() ?? null,
    };
    await chaosAudit.write({ ...base, kind: 'start', at: Date.now() });
    let ok = false;
    let error: string | undefined;
    try {
      await this.work(ctx);
      ok = true;
    } catch (err) {
      error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw err;
    } finally {
      await chaosAudit.write({ ...base, kind: 'end', at: Date.now(), ok, error });
    }
  }
}

/** Finishes at once. */
@JobType('chaos-quick')
export class ChaosQuickJob extends AuditedJob {
  protected async work(): Promise<void> {}
}

/** Runs `ms` in `steps`, reporting progress after each; spans several heartbeats. */
@JobType('chaos-slow')
export class ChaosSlowJob extends AuditedJob {
  ms = 1_000;
  steps = 5;
  protected async work(ctx: JobContext): Promise<void> {
    for (let i = 1; i <= this.steps; i++) {
      await delay(this.ms / this.steps, undefined, { signal: ctx.signal });
      await ctx.progress((100 * i) / this.steps, `step ${i}`);
    }
  }
}

/** Asks for a retry until attempt `succeedOn`, then completes. */
@JobType('chaos-flaky')
export class ChaosFlakyJob extends AuditedJob {
  succeedOn = 1;
  retryAfterMs = 20;
  protected async work(ctx: JobContext): Promise<void> {
    if (ctx.attempt < this.succeedOn) {
      throw new RetryableError(`attempt ${ctx.attempt} failed on purpose`, {
        retryAfterMs: this.retryAfterMs,
      });
    }
  }
}

/** Asks for a retry on every attempt: ends `failed` once its attempts are spent. */
@JobType('chaos-fail')
export class ChaosFailJob extends AuditedJob {
  retryAfterMs = 20;
  protected async work(ctx: JobContext): Promise<void> {
    throw new RetryableError(`attempt ${ctx.attempt} failed on purpose`, {
      retryAfterMs: this.retryAfterMs,
    });
  }
}

/** Holds its dispatch scopes for `ms`. */
@JobType('chaos-scoped')
export class ChaosScopedJob extends AuditedJob {
  ms = 40;
  protected async work(ctx: JobContext): Promise<void> {
    await delay(this.ms, undefined, { signal: ctx.signal });
  }
}

/** Runs after its edges completed (see its dependency); a short sleep. */
@JobType('chaos-dependent')
export class ChaosDependentJob extends AuditedJob {
  ms = 5;
  protected async work(ctx: JobContext): Promise<void> {
    await delay(this.ms, undefined, { signal: ctx.signal });
  }
}

/** Open gates: a ChaosGateJob waits until its gate is in here. */
export const chaosGates = new Set<string>();

/**
 * Waits at its gate (honouring the signal unless `ignoreSignal`); then, with `progressAtGate`,
 * reports progress once; then, with `exitGate`, waits at that gate too before it completes.
 */
@JobType('chaos-gate')
export class ChaosGateJob extends AuditedJob {
  gate = '';
  progressAtGate = false;
  exitGate = '';
  ignoreSignal = false;
  protected async work(ctx: JobContext): Promise<void> {
    await this.waitAt(this.gate, ctx);
    if (this.progressAtGate) await ctx.progress(50, 'past the gate');
    if (this.exitGate) await this.waitAt(this.exitGate, ctx);
  }

  private async waitAt(gate: string, ctx: JobContext): Promise<void> {
    while (!chaosGates.has(gate)) {
      await delay(10, undefined, this.ignoreSignal ? {} : { signal: ctx.signal });
    }
  }
}

/** Carries any payload (the fuzz tests put random ones); does nothing when run. */
@JobType('fuzz-payload')
export class FuzzPayloadJob extends BaseJob {
  data: unknown = null;
  async run(): Promise<void> {}
}
