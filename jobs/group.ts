/**
 * `GroupJob` (amboy's group job): runs child jobs inside one job, `concurrency` at a time, and
 * goes on past failures. Children are instances of registered job classes, stored in the group's
 * payload as the registry serializes them; after the run each child's document (with its
 * results) and a summary (`results`: state, errors, duration) are stored with the group.
 *
 * The group fails when a child failed (its errors name the children), and is retried like any
 * failed job when every failure allows a retry (none is a `NonRetryableError` or a child that
 * could not be loaded): the next attempt runs only the children that did not complete. Aborting the group aborts its running children and skips those not started.
 * Children run in the group's worker: their scopes, concurrency keys, dependencies and retry
 * settings do not apply (give the group itself a `concurrency` key option to bound it).
 */
import { InvalidArgumentError, JobAbortedError, NonRetryableError } from '../lib/errors';
import { errorRecord as recordOf } from '../lib/job/error-record';
import { encodeResult } from '../lib/job/payload-codec';
import { maxTimeTimer } from '../lib/runner/hard-time-limit';
import { BaseJob, type JobContext } from '../lib/job/base-job';
import { defaultRegistry, JobType, type Registry } from '../lib/job/registry';
import type { JobDocument, JobErrorRecord } from '../lib/types';
import { checkNumber } from '../lib/validate';

/** Children run at the same time by default. */
export const GROUP_CONCURRENCY_DEFAULT = 4;
export const GROUP_CONCURRENCY_MAX = 1024;

/** What became of one child. */
export interface ChildResult {
  id: string;
  type: string;
  /** `pending` until it runs; `aborted` when the group was aborted before or while it ran. */
  state: 'pending' | 'completed' | 'failed' | 'aborted';
  errors: JobErrorRecord[];
  durationMs: number;
  start: Date | null;
  end: Date | null;
  /** What the child's `run()` returned, when it completed and returned something storable. */
  returnValue?: unknown;
}

/** Runs child jobs; see the module comment. */
@JobType('drover.group')
export class GroupJob extends BaseJob {
  /** The children, as the registry stores them. */
  children: JobDocument[] = [];
  /**
   * Children run at the same time, inside this job. Not the `concurrency` job option, which
   * bounds how many jobs sharing a key run in the queue.
   */
  concurrency = GROUP_CONCURRENCY_DEFAULT;
  /** One entry per child, in the order of `children`. */
  results: ChildResult[] = [];

  /** The registry children are stored and loaded with; override for a registry of your own. */
  protected registry(): Registry {
    return defaultRegistry;
  }

  /** Adds a child (an instance of a class registered in `registry()`). */
  add(child: BaseJob): this {
    const doc = this.registry().toDocument(child, '', new Date());
    this.children.push(doc);
    this.results.push(pendingResult(doc._id, doc.type.name));
    return this;
  }

  /** The children as job instances, with their stored results. */
  childJobs<T extends BaseJob = BaseJob>(): T[] {
    return this.children.map((doc) => this.registry().fromDocument<T>(doc));
  }

  async run(ctx: JobContext): Promise<void> {
    const limit = checkNumber('concurrency', this.concurrency, 1, GROUP_CONCURRENCY_MAX);
    const todo = this.children
      .map((_, i) => i)
      .filter((i) => this.results[i]?.state !== 'completed');
    let next = 0;
    let finished = this.children.length - todo.length;
    const worker = async () => {
      while (next < todo.length && !ctx.signal.aborted) {
        const i = todo[next++];
        await this.runChild(i, ctx);
        finished++;
        await ctx
          .progress(
            (finished / this.children.length) * 100,
            `${finished}/${this.children.length} children`,
          )
          .catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, todo.length) }, worker));
    if (ctx.signal.aborted) {
      for (const r of this.results) if (r.state === 'pending') r.state = 'aborted';
      throw ctx.signal.reason;
    }
    const failed = this.results.filter((r) => r.state !== 'completed');
    if (failed.length === 0) return;
    const retryable = failed.every(
      (r) => r.errors.length > 0 && r.errors.every((e) => e.retryable),
    );
    const summary = `${failed.length} of ${this.children.length} children failed`;
    for (const r of failed) {
      const why = r.errors.map((e) => e.message).join('; ') || r.state;
      const message = `child ${r.id} (${r.type}) ${r.state}: ${why}`;
      this.addError(retryable ? new Error(message) : new NonRetryableError(message));
    }
    ctx.logger.warn({ failed: failed.map((r) => r.id) }, summary);
  }

  private async runChild(i: number, ctx: JobContext): Promise<void> {
    const registry = this.registry();
    const doc = this.children[i];
    const start = new Date();
    const result = (this.results[i] = pendingResult(doc._id, doc.type?.name ?? ''));
    result.start = start;
    let child: BaseJob;
    try {
      child = registry.fromDocument(doc);
    } catch (err) {
      // A child that cannot be loaded (unknown type...) fails alone.
      Object.assign(result, { state: 'failed', end: new Date(), errors: [errorRecord(err)] });
      return;
    }
    child.status.errors = [];
    const errorsBefore = child.status.errCount;
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const cancelTimer = maxTimeTimer(controller, child.id, child.timeInfo.maxTimeMs);
    try {
      const returned = await child.run({
        signal: controller.signal,
        logger: ctx.logger.child({ childId: child.id, childType: child.type.name }),
        queue: ctx.queue,
        attempt: 0,
        progress: async (percent) => {
          child.status.progress = Math.max(0, Math.min(100, percent));
        },
        transaction: async () => {
          // Only the group's attempt is recorded: there is no completion of the child's to commit.
          throw new InvalidArgumentError(
            `child ${child.id} of a GroupJob cannot use ctx.transaction: it has no attempt of its own`,
          );
        },
        log: (message) => child.appendLog(message),
      });
      if (returned !== undefined) child.returnValue = returned;
    } catch (err) {
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      child.recordThrown(reason ?? err);
    } finally {
      cancelTimer();
      ctx.signal.removeEventListener('abort', onAbort);
    }
    const end = new Date();
    const aborted = ctx.signal.aborted;
    if (aborted && child.status.errCount === errorsBefore) {
      child.addError(new JobAbortedError(child.id, 'its group was aborted'));
    }
    let returnValue: unknown;
    if (!aborted && child.status.errCount === errorsBefore) {
      try {
        returnValue = encodeResult(child.id, child.returnValue);
      } catch (err) {
        child.addError(err);
      }
    }
    if (returnValue !== undefined) result.returnValue = returnValue;
    Object.assign(result, {
      state: aborted ? 'aborted' : child.status.errCount > errorsBefore ? 'failed' : 'completed',
      errors: [...child.status.errors],
      end,
      durationMs: end.getTime() - start.getTime(),
    });
    if (result.state === 'completed') child.status.progress = 100;
    this.children[i] = registry.toDocument(child, '', end);
  }
}

function pendingResult(id: string, type: string): ChildResult {
  return { id, type, state: 'pending', errors: [], durationMs: 0, start: null, end: null };
}

/** The record of a child that could not be loaded: no retry would load it. */
function errorRecord(err: unknown): JobErrorRecord {
  return { ...recordOf(err), retryable: false };
}
