/**
 * Helpers of the review tests: deferred promises, a job that exposes its signal, an extension
 * whose first verdict the test decides, and a job store whose next heartbeat the test can hold.
 * The stores stay real: the helpers only choose when a call reaches them.
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { BaseJob, JobType, type JobContext } from '../../lib';
import type { AttemptContext, QueueExtension, StartVerdict } from '../../lib/extension';
import type { JobStore } from '../../lib/store/job-store';
import type { JobHeartbeatParams, JobHeartbeatResult } from '../../lib/store/job-store';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets pending callbacks of the runner (microtasks, then one macrotask) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

/** Every run of a HoldJob, with the signal it was given. */
export const holdRuns: { jobId: string; signal: AbortSignal }[] = [];

/** Runs until aborted (or `maxMs`), recording its signal. */
@JobType('review-hold')
export class HoldJob extends BaseJob {
  maxMs = 60_000;
  async run(ctx: JobContext): Promise<void> {
    holdRuns.push({ jobId: this.id, signal: ctx.signal });
    await delay(this.maxMs, undefined, { signal: ctx.signal });
  }
}

/**
 * An extension that holds the first claimed HoldJob in `beforeStart` until the test gives its
 * verdict (or throws `throwFirst`); later claims run.
 */
export class GateExtension implements QueueExtension {
  readonly name = 'review-gate';
  calls = 0;
  readonly entered = deferred<AttemptContext>();
  readonly verdict = deferred<StartVerdict>();
  constructor(private readonly throwFirst?: Error) {}

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    if (ctx.job.type.name !== 'review-hold') return { action: 'run' };
    if (++this.calls > 1) return { action: 'run' };
    if (this.throwFirst) throw this.throwFirst;
    this.entered.resolve(ctx);
    return this.verdict.promise;
  }
}

/** A held heartbeat: what it was called with, when to let it through, and its result. */
export interface HeldHeartbeat {
  called: Deferred<JobHeartbeatParams>;
  go: Deferred<void>;
  done: Deferred<JobHeartbeatResult>;
}

/** A job store whose next heartbeat, once `hold()` is called, waits for the test. */
export function holdableStore(inner: JobStore): { store: JobStore; hold(): HeldHeartbeat } {
  let armed: HeldHeartbeat | undefined;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      if (prop !== 'jobHeartbeat') return fn;
      return async (params: JobHeartbeatParams): Promise<JobHeartbeatResult> => {
        const held = armed;
        if (!held) return target.jobHeartbeat(params);
        armed = undefined;
        held.called.resolve(params);
        await held.go.promise;
        const res = await target.jobHeartbeat(params);
        held.done.resolve(res);
        return res;
      };
    },
  });
  return {
    store,
    hold() {
      armed = { called: deferred(), go: deferred(), done: deferred() };
      return armed;
    },
  };
}

/** Runs of BadResultJob. */
export const badResultRuns: string[] = [];

/** Succeeds, but leaves a result its payload cannot store (a non-finite number). */
@JobType('review-bad-result')
export class BadResultJob extends BaseJob {
  result = 0;
  async run(): Promise<void> {
    badResultRuns.push(this.id);
    this.result = Number.NaN;
  }
}
