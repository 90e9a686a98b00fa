/**
 * Hooks around each job, as a queue extension: `beforeRun` hooks run after a claim and before
 * the job (e.g. refresh credentials and hand them to the job), `afterRun` hooks after its outcome
 * is recorded (results, cleanup).
 *
 * A `beforeRun` hook that cannot let jobs run yet throws `HookWaitError(state, message)`: the
 * claimed job is released untouched (no error recorded, due at once), every queue the hooks serve
 * stops claiming, and the workers wait in the visible state `state` (e.g. `auth-required`: see
 * `state()`, the `waiting`/`resumed` events and the logs) while the hooks are retried in the
 * background with capped, jittered backoff. Once they pass, claims resume. So no job is claimed
 * and then left idle while, say, a person re-authenticates.
 */
import type { Logger } from 'pino';
import pino from 'pino';
import { HookWaitError, RetryableError, toError } from '../errors';
import { TypedEmitter } from '../events';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import type { BaseJob } from '../job/base-job';
import { backoffMs } from '../timers/sleep';
import type { JobState } from '../types';
import { checkNumber } from '../validate';

export const HOOK_RETRY_MIN_MS_DEFAULT = 1_000;
export const HOOK_RETRY_MAX_MS_DEFAULT = 60_000;
/** The state of workers that no hook holds back. */
export const WORKER_READY = 'ready';

/** What a `beforeRun` hook receives. */
export interface BeforeRunContext {
  queue: string;
  /** The claimed job, about to run; undefined when the hooks are retried during a wait. */
  job?: BaseJob;
  /** Fires when the hooks are closed. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * Runs before each job. Throw `HookWaitError` to hold the workers; a `RetryableError` ends the
 * attempt `retrying` (the retry handler decides), any other error ends it `failed`.
 */
export type BeforeRunHook = (ctx: BeforeRunContext) => Promise<void> | void;

/** What an `afterRun` hook receives. */
export interface AfterRunContext {
  queue: string;
  job: BaseJob;
  /** The recorded outcome of the attempt. */
  state: JobState;
  logger: Logger;
}

/** Runs after each attempt's outcome is recorded; its errors are logged, the outcome stands. */
export type AfterRunHook = (ctx: AfterRunContext) => Promise<void> | void;

/** Options of `RunHooks`. All optional. */
export interface RunHooksOptions {
  beforeRun?: BeforeRunHook[];
  afterRun?: AfterRunHook[];
  /** First delay of the background retry of waiting hooks; it doubles up to `retryMaxMs`. */
  retryMinMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
}

/** Where the workers served by a `RunHooks` stand. */
export interface WorkerState {
  /** `ready`, or the state of the `HookWaitError` holding the workers (e.g. `auth-required`). */
  state: string;
  /** The message of that error; empty when ready. */
  message: string;
  /** When the current wait began; null when ready. */
  since: Date | null;
  /** Background retries made in the current wait. */
  retries: number;
  /** How many waits began, by state. */
  waits: Record<string, number>;
  /** Claimed jobs released untouched because of a wait. */
  released: number;
  /** Time spent waiting, all waits together, the current one included. */
  waitedMs: number;
}

/** Events of `RunHooks`. */
export interface RunHooksEventMap {
  waiting: [{ state: string; message: string; queue: string }];
  resumed: [{ state: string; waitedMs: number; retries: number }];
  error: [Error];
}

interface Wait {
  /** The queue whose job's hook began the wait; background retries run under its name. */
  queue: string;
  state: string;
  message: string;
  since: number;
  retries: number;
  timer?: NodeJS.Timeout;
}

/** The hooks extension. One instance may serve many queues (a group): they wait together. */
export class RunHooks extends TypedEmitter<RunHooksEventMap> implements QueueExtension {
  readonly name = 'hooks';
  private readonly before: BeforeRunHook[];
  private readonly after: AfterRunHook[];
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly logger: Logger;
  private readonly controller = new AbortController();
  private wait?: Wait;
  private retrying?: Promise<boolean>;
  private readonly waits: Record<string, number> = {};
  private released = 0;
  private waitedMs = 0;

  constructor(options: RunHooksOptions = {}) {
    super();
    this.before = [...(options.beforeRun ?? [])];
    this.after = [...(options.afterRun ?? [])];
    this.retryMinMs = checkNumber(
      'retryMinMs',
      options.retryMinMs ?? HOOK_RETRY_MIN_MS_DEFAULT,
      1,
      3_600_000,
    );
    this.retryMaxMs = checkNumber(
      'retryMaxMs',
      options.retryMaxMs ?? Math.max(HOOK_RETRY_MAX_MS_DEFAULT, this.retryMinMs),
      this.retryMinMs,
      24 * 3_600_000,
    );
    this.logger = options.logger ?? pino({ level: 'silent' });
  }

  /** Adds a hook run before each job (after those already added). */
  beforeRun(hook: BeforeRunHook): this {
    this.before.push(hook);
    return this;
  }

  /** Adds a hook run after each attempt's outcome is recorded. */
  afterRun(hook: AfterRunHook): this {
    this.after.push(hook);
    return this;
  }

  /** False while a hook holds the workers. */
  claimAllowed(): boolean {
    return this.wait === undefined;
  }

  /** Where the workers stand (see `WorkerState`). */
  state(): WorkerState {
    const w = this.wait;
    const current = w ? Date.now() - w.since : 0;
    return {
      state: w?.state ?? WORKER_READY,
      message: w?.message ?? '',
      since: w ? new Date(w.since) : null,
      retries: w?.retries ?? 0,
      waits: { ...this.waits },
      released: this.released,
      waitedMs: this.waitedMs + current,
    };
  }

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    if (this.before.length === 0) return { action: 'run' };
    if (this.wait) return this.release(this.wait.state);
    try {
      await this.runBefore(ctx.queue, ctx.job);
    } catch (err) {
      if (err instanceof HookWaitError) {
        this.enterWait(err, ctx.queue);
        return this.release(err.state);
      }
      if (err instanceof RetryableError) return { action: 'finish', state: 'retrying', error: err };
      return { action: 'finish', state: 'failed', error: toError(err) };
    }
    return { action: 'run' };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    // Released or blocked attempts did not run; their next claim will come back here.
    if (this.after.length === 0 || state === 'pending' || state === 'blocked') return;
    const logger = this.logger.child({ queue: ctx.queue, jobId: ctx.job.id });
    for (const hook of this.after) {
      try {
        await hook({ queue: ctx.queue, job: ctx.job, state, logger });
      } catch (err) {
        this.emit('error', toError(err));
        logger.error({ err }, 'afterRun hook failed');
      }
    }
  }

  /**
   * One background retry of the waiting hooks (the retry timer's body; call it directly in
   * tests). Returns true when the workers are ready afterwards.
   */
  async retryNow(): Promise<boolean> {
    const w = this.wait;
    if (!w) return true;
    clearTimeout(w.timer);
    this.retrying ??= this.retry(w).finally(() => (this.retrying = undefined));
    return this.retrying;
  }

  /** Stops the background retry; hooks in flight see their signal fire. */
  close(): void {
    clearTimeout(this.wait?.timer);
    this.controller.abort();
  }

  private release(state: string): StartVerdict {
    this.released++;
    return { action: 'release', delayMs: 0, reason: `workers waiting: ${state}` };
  }

  private async runBefore(queue: string, job?: BaseJob): Promise<void> {
    const logger = this.logger.child(job ? { queue, jobId: job.id } : { queue });
    for (const hook of this.before) {
      await hook({ queue, job, signal: this.controller.signal, logger });
    }
  }

  private enterWait(err: HookWaitError, queue: string): void {
    if (this.wait) {
      this.wait.state = err.state;
      this.wait.message = err.message;
      return;
    }
    this.wait = { queue, state: err.state, message: err.message, since: Date.now(), retries: 0 };
    this.waits[err.state] = (this.waits[err.state] ?? 0) + 1;
    this.logger.warn(
      { state: err.state, queue, reason: err.message },
      `workers waiting: ${err.state}`,
    );
    this.emit('waiting', { state: err.state, message: err.message, queue });
    this.schedule(this.wait);
  }

  private schedule(w: Wait): void {
    if (this.controller.signal.aborted || this.wait !== w) return;
    const delay = backoffMs(w.retries, this.retryMinMs, this.retryMaxMs);
    w.timer = setTimeout(() => void this.retryNow(), delay);
    // A process holding nothing else open may exit while it waits.
    w.timer.unref();
  }

  private async retry(w: Wait): Promise<boolean> {
    if (this.controller.signal.aborted) return false;
    w.retries++;
    try {
      await this.runBefore(w.queue);
    } catch (err) {
      if (err instanceof HookWaitError) {
        w.state = err.state;
        w.message = err.message;
      } else {
        this.emit('error', toError(err));
      }
      this.logger.info(
        { state: w.state, retries: w.retries, err },
        `workers still waiting: ${w.state}`,
      );
      this.schedule(w);
      return false;
    }
    const waitedMs = Date.now() - w.since;
    this.waitedMs += waitedMs;
    this.wait = undefined;
    this.logger.info({ state: w.state, waitedMs, retries: w.retries }, 'workers resumed');
    this.emit('resumed', { state: w.state, waitedMs, retries: w.retries });
    return true;
  }
}
