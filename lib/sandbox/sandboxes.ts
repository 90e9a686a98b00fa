/**
 * The sandboxes of one queue: runs each job where its type asks (`@JobType(name, { sandbox })`),
 * in the worker itself or in a sandbox taken from a pool per sandbox kind. The pool grows with
 * the jobs running at once (at most the queue's `workers`), keeps the sandboxes for the next
 * jobs, and drops one that died (the next job starts a fresh one). The queue plugs `runJob` into
 * its runner pool and closes the sandboxes with itself.
 *
 * How a sandboxed run ends, for the attempt executor (lib/runner/attempt-executor.ts), exactly as
 * if the job had run in the worker: it returns or throws what the job did, with the job's
 * changes (payload, errors, progress, retry ask) applied to the worker's copy; after an abort
 * whose `killAfterMs` ran out, the sandbox is killed and the abort's reason is thrown (so
 * `maxTimeMs` ends the run for real); a sandbox that died under the job adds a retryable
 * SandboxCrashedError or SandboxOutOfMemoryError to the attempt, so its retry policy decides.
 */
import { plainToInstance } from 'class-transformer';
import type { Logger } from 'pino';
import { SandboxCrashedError, SandboxOutOfMemoryError, toError } from '../errors';
import type { BaseJob, JobClass, JobContext } from '../job/base-job';
import type { Registry } from '../job/registry';
import type { JobChanges } from './protocol';
import { Sandbox } from './sandbox';
import type { ResolvedSandboxOptions } from './sandbox-options';

/** Runs jobs in sandboxes where their type asks for one. */
export class Sandboxes {
  /** Idle sandboxes by kind (`ResolvedSandboxOptions.key`). */
  private readonly idle = new Map<string, Sandbox[]>();
  private readonly all = new Set<Sandbox>();
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  /** Runs `job` where its type asks: here (`job.run(ctx)`), or in a sandbox. */
  readonly runJob = async (job: BaseJob, ctx: JobContext): Promise<unknown> => {
    const spec = this.registry.sandboxOf(job.type.name);
    if (!spec) return job.run(ctx);
    return this.runSandboxed(job, ctx, spec);
  };

  /** How many sandboxes are alive (running a job or idle). */
  get size(): number {
    return this.all.size;
  }

  /** Kills every sandbox; later sandboxed runs start none and fail. */
  close(): void {
    this.closed = true;
    for (const sandbox of this.all) sandbox.kill();
    this.idle.clear();
  }

  private async runSandboxed(
    job: BaseJob,
    ctx: JobContext,
    spec: ResolvedSandboxOptions,
  ): Promise<unknown> {
    const doc = this.registry.toDocument(job, ctx.queue, new Date());
    let sandbox: Sandbox;
    try {
      sandbox = await this.acquire(spec, job.id, ctx.signal);
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (err instanceof SandboxCrashedError || err instanceof SandboxOutOfMemoryError) {
        job.addRetryableError(err);
        return;
      }
      throw err;
    }
    const outcome = await sandbox.run({
      doc,
      queue: ctx.queue,
      attempt: ctx.attempt,
      logLevel: ctx.logger.level,
      signal: ctx.signal,
      onProgress: (percent, message) => ctx.progress(percent, message),
      onLog: (line) => relayLog(ctx.logger, line),
    });
    this.release(spec, sandbox);
    switch (outcome.kind) {
      case 'done':
        applyChanges(job, outcome.changes);
        if (outcome.error) throw outcome.error;
        return outcome.changes.returnValue;
      case 'killed':
        ctx.logger.warn({ killAfterMs: spec.killAfterMs }, 'sandbox killed: job ignored its abort');
        throw ctx.signal.reason;
      case 'crashed':
        ctx.logger.warn({ err: outcome.error }, 'sandbox died under the job');
        // Killed on purpose (shutdown, close): the abort explains it, as in the worker.
        if (ctx.signal.aborted) throw ctx.signal.reason;
        job.addRetryableError(outcome.error);
        return;
    }
  }

  /** An idle sandbox of this kind, or a new one. */
  private async acquire(
    spec: ResolvedSandboxOptions,
    jobId: string,
    signal: AbortSignal,
  ): Promise<Sandbox> {
    if (this.closed) throw new Error('the queue is closed: no sandbox starts');
    const idle = this.idle.get(spec.key) ?? [];
    for (let s = idle.pop(); s; s = idle.pop()) if (s.usable) return s;
    const sandbox = await Sandbox.start(spec, jobId, signal, (gone) => this.forget(spec, gone));
    this.all.add(sandbox);
    this.logger.debug(
      { mode: spec.mode, module: spec.module, alive: this.all.size },
      'sandbox started',
    );
    if (this.closed) sandbox.kill();
    return sandbox;
  }

  /** Puts a sandbox back for the next job of its kind (a dead one is already forgotten). */
  private release(spec: ResolvedSandboxOptions, sandbox: Sandbox): void {
    if (!sandbox.usable) return;
    if (this.closed) {
      sandbox.kill();
      return;
    }
    const idle = this.idle.get(spec.key) ?? [];
    idle.push(sandbox);
    this.idle.set(spec.key, idle);
  }

  private forget(spec: ResolvedSandboxOptions, sandbox: Sandbox): void {
    this.all.delete(sandbox);
    const idle = this.idle.get(spec.key);
    if (idle?.includes(sandbox)) idle.splice(idle.indexOf(sandbox), 1);
  }
}

/** Applies to the worker's copy of a job what the job changed on itself in its sandbox. */
function applyChanges(job: BaseJob, changes: JobChanges): void {
  const keys = Object.keys(changes.payload);
  if (keys.length > 0) {
    // The payload as the registry would load it (class-transformer), field by field.
    const cls = job.constructor as JobClass;
    const restored = plainToInstance(cls, changes.payload) as unknown as Record<string, unknown>;
    const target = job as unknown as Record<string, unknown>;
    for (const key of keys) target[key] = restored[key];
  }
  job.status.errors = changes.errors;
  job.status.errCount = changes.errCount;
  if (changes.progress !== undefined) job.status.progress = changes.progress;
  if (changes.progressMessage !== undefined) job.status.progressMessage = changes.progressMessage;
  job.retryInfo.needsRetry = changes.needsRetry;
  job.retryInfo.waitUntilMs = changes.waitUntilMs;
  if (changes.log !== undefined) job.status.log = changes.log;
  if (changes.logDropped !== undefined) job.status.logDropped = changes.logDropped;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

/** Writes a pino line logged in a sandbox through the job's logger (its bindings added). */
function relayLog(logger: Logger, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch (err) {
    logger.info({ line, err: toError(err) }, 'unreadable log line from a sandbox');
    return;
  }
  const { level, msg, ...fields } = record;
  const label = typeof level === 'number' ? logger.levels.labels[level] : undefined;
  const method = LEVELS.find((l) => l === label) ?? 'info';
  logger[method](fields, typeof msg === 'string' ? msg : undefined);
}
