/**
 * The queue side of dependencies (amboy stored them but never enforced them). A job whose
 * dependency is not `always` is stored `blocked`; this extension moves it on once its manager
 * decides: to `pending` when ready, to `completed` without running when passed, to `failed` with
 * a typed error record when unresolved. Blocked dependents of a job are re-evaluated as soon as
 * that job finishes (dependents in the same queue), and every blocked job of a queue is
 * re-evaluated on the maintenance timer, a bounded page per pass (edges in other queues, files,
 * check functions). Cycles are rejected on put.
 *
 * Every move is one `jobTransition` guarded by modCount and the `blocked` state, so any number of
 * processes may evaluate the same job at once: the first write wins, the others match nothing.
 */
import type { Logger } from 'pino';
import {
  DEFAULT_CYCLE_MAX_NODES,
  defaultCheckRegistry,
  dependencyFromStored,
  findCycle,
  type CheckRegistry,
  type DependencyContext,
  type DependencyDecision,
  type DependencyManager,
} from '../../dependency';
import {
  DependencyCycleError,
  DependencyFailedError,
  DependencyUnresolvedError,
  DispatchExpiredError,
  InvalidArgumentError,
  errorCodeOf,
  toError,
} from '../errors';
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import { MAX_ERRORS_KEPT } from '../job/base-job';
import { defaultLogger } from '../queue/queue-options';
import type { JobStore, JobUpdate, SessionOptions } from '../store/job-store';
import type { JobDocument, JobErrorRecord, JobState } from '../types';
import { checkNumber } from '../validate';
import { isFinal } from '../states';

/** Blocked jobs re-evaluated per queue per maintenance pass (and per page of dependents). */
export const DEPENDENCY_SCAN_BATCH_DEFAULT = 100;
export const DEPENDENCY_SCAN_BATCH_MAX = 10_000;
/** Evaluations in flight at once. */
export const DEPENDENCY_CONCURRENCY_DEFAULT = 8;
export const DEPENDENCY_CONCURRENCY_MAX = 256;

/** Options of a {@link DependencyExtension}. All optional. */
export interface DependencyExtensionOptions {
  /** Where `check` dependencies look up their functions. Default `defaultCheckRegistry`. */
  checks?: CheckRegistry;
  /** Blocked jobs evaluated per maintenance pass, round robin over the queue's backlog. */
  scanBatch?: number;
  /** Evaluations in flight at once. */
  concurrency?: number;
  /** Most jobs one put's cycle check may visit (plus the jobs put). */
  cycleMaxNodes?: number;
  logger?: Logger;
}

/** Options with every field resolved. */
export interface ResolvedDependencyExtensionOptions {
  checks: CheckRegistry;
  scanBatch: number;
  concurrency: number;
  cycleMaxNodes: number;
  logger: Logger;
}

/** Copies, defaults and validates the options; throws InvalidArgumentError on a bad value. */
export function resolveDependencyExtensionOptions(
  o: DependencyExtensionOptions = {},
): ResolvedDependencyExtensionOptions {
  const int = (name: string, value: number, max: number): number => {
    checkNumber(name, value, 1, max);
    if (!Number.isInteger(value)) throw new InvalidArgumentError(`${name} must be an integer`);
    return value;
  };
  return {
    checks: o.checks ?? defaultCheckRegistry,
    scanBatch: int(
      'scanBatch',
      o.scanBatch ?? DEPENDENCY_SCAN_BATCH_DEFAULT,
      DEPENDENCY_SCAN_BATCH_MAX,
    ),
    concurrency: int(
      'concurrency',
      o.concurrency ?? DEPENDENCY_CONCURRENCY_DEFAULT,
      DEPENDENCY_CONCURRENCY_MAX,
    ),
    cycleMaxNodes: int('cycleMaxNodes', o.cycleMaxNodes ?? DEFAULT_CYCLE_MAX_NODES, 1e7),
    logger: o.logger ?? defaultLogger(),
  };
}

/** Not a valid job ID, so it never collides with one: the root of a putMany's cycle search. */
const BATCH_ROOT = '\u0000batch';

/** Edge states read during one pass; only final states are kept, since they cannot change. */
type EdgeCache = Map<string, JobState>;

/** Holds blocked jobs back and dispatches them when their dependency allows. */
export class DependencyExtension implements QueueExtension {
  readonly name = 'dependencies';
  readonly options: ResolvedDependencyExtensionOptions;
  /** Per queue, the last blocked job ID evaluated by the periodic scan (round robin). */
  private readonly cursors = new Map<string, string>();
  /** Per queue: whether the last full scan saw blocked jobs (unknown until the first scan). */
  private readonly hasBlocked = new Map<string, boolean>();
  /** Per queue: the read under way that answers `hasBlocked` for the first time. */
  private readonly blockedProbes = new Map<string, Promise<boolean>>();

  constructor(
    private readonly store: JobStore,
    options: DependencyExtensionOptions = {},
  ) {
    this.options = resolveDependencyExtensionOptions(options);
  }

  /**
   * Validates every stored dependency and rejects a put that would close a cycle. Inside the
   * caller's transaction the search reads through its session, so jobs put earlier in the same
   * transaction count.
   */
  async beforeInsert(
    queue: string,
    docs: JobDocument[],
    options: SessionOptions = {},
  ): Promise<void> {
    if (docs.some((d) => d.state === 'blocked')) this.hasBlocked.set(queue, true);
    const batch = new Map<string, string[]>();
    for (const doc of docs) {
      try {
        dependencyFromStored(doc.dependency);
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err;
        throw new InvalidArgumentError(`job ${doc._id}: ${err.message}`, {
          jobId: doc._id,
          queue,
          cause: err,
        });
      }
      if (doc.dependency.edges.length > 0) batch.set(baseIdOf(doc), doc.dependency.edges);
    }
    if (batch.size === 0) return;
    const cycle = await this.findBatchCycle(batch, options);
    if (cycle) throw new DependencyCycleError(cycle[0] ?? '', cycle);
  }

  /**
   * One search over the jobs put and every stored job they reach. A job's edges are the union of
   * its batch edges and its stored ones (a batch ID that already exists fails as a duplicate,
   * but the rest of the batch is inserted, so both must be acyclic).
   */
  private async findBatchCycle(
    batch: Map<string, string[]>,
    options: SessionOptions,
  ): Promise<string[] | null> {
    const edgesOf = async (id: string): Promise<string[]> => {
      if (id === BATCH_ROOT) return [...batch.keys()];
      const stored = await this.store.jobGetLatest(id, options);
      const storedEdges = Array.isArray(stored?.dependency?.edges)
        ? stored.dependency.edges.filter((e): e is string => typeof e === 'string')
        : [];
      const own = batch.get(id) ?? [];
      return storedEdges.length === 0 ? own : [...new Set([...own, ...storedEdges])];
    };
    try {
      return await findCycle(BATCH_ROOT, edgesOf, {
        maxNodes: this.options.cycleMaxNodes + batch.size,
        // A transaction's operations must not run in parallel (the driver's rule).
        concurrency: options.session ? 1 : 32,
      });
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      throw new InvalidArgumentError(
        `more than ${this.options.cycleMaxNodes} stored jobs are reachable through the dependencies of the jobs put; cycle check refused`,
        { cause: err },
      );
    }
  }

  /** Safety net: a non-`always` job claimed before its dependency allows goes back to blocked. */
  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    const { job } = ctx;
    if (job.dependency.type === 'always') return { action: 'run' };
    let manager: DependencyManager;
    try {
      manager = dependencyFromStored(job.dependency);
    } catch (err) {
      return { action: 'finish', state: 'failed', error: toError(err) };
    }
    const decision = await manager.state(this.context(ctx.now, new Map()));
    switch (decision.state) {
      case 'ready':
        return { action: 'run' };
      case 'blocked':
        return { action: 'block', reason: decision.reason ?? 'dependency not ready' };
      case 'passed':
        return { action: 'finish', state: 'completed' };
      case 'unresolved':
        return { action: 'finish', state: 'failed', error: unresolvedError(job.id, decision) };
    }
  }

  /** Re-evaluates the blocked dependents (same queue) of a job that reached a final state. */
  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    const { job } = ctx;
    if (state === 'retrying') {
      // The next attempt of a job with a dependency is inserted blocked: let it go at once.
      if (job.dependency.type === 'always') return;
      const next = await this.store.jobGetLatest(job.baseJobId);
      if (next?.state === 'blocked' && next.queue === ctx.queue)
        await this.evaluateAndRelease(ctx.queue, [next], ctx.now);
      return;
    }
    if (!isFinal(state)) return;
    // A queue known to hold no blocked job has no dependents to look for: no query per job on
    // the hot path. Dependents put meanwhile by another process are found by the next scan.
    if (!(await this.mayHaveBlocked(ctx.queue))) return;
    await this.releaseDependents(ctx.queue, [job.baseJobId], ctx.now, new Map());
  }

  /**
   * Whether the queue may hold blocked jobs. Unknown before the first scan: one index-served
   * read of at most one blocked job answers it, so a queue without dependencies never pays a
   * dependents lookup per finished job.
   */
  private async mayHaveBlocked(queue: string): Promise<boolean> {
    const known = this.hasBlocked.get(queue);
    if (known !== undefined) return known;
    // One read per queue, however many jobs finish while it is under way (a pool of 64 finishes
    // 64 at once on start).
    let probe = this.blockedProbes.get(queue);
    if (!probe) {
      probe = this.store
        .jobList({ queue, states: ['blocked'], limit: 1, anyOrder: true })
        .then((found) => {
          // A scan or a put may have answered meanwhile; theirs is as fresh.
          if (!this.hasBlocked.has(queue)) this.hasBlocked.set(queue, found.length > 0);
          return this.hasBlocked.get(queue) === true;
        })
        .finally(() => this.blockedProbes.delete(queue));
      this.blockedProbes.set(queue, probe);
    }
    return probe;
  }

  /** Re-evaluates one page of the queue's blocked jobs, continuing where the last pass stopped. */
  async maintain(queue: string, now: Date): Promise<void> {
    await this.scanOnce(queue, now);
  }

  /**
   * The upkeep of many queues: one read finds whether any queue not known to hold blocked jobs
   * has some (an index-served probe that returns at most one), then the queues known to hold
   * some are scanned as `maintain` does. Idle queues cost that one read, together.
   */
  async maintainQueues(queues: readonly string[], now: Date): Promise<void> {
    const unknown = queues.filter((q) => this.hasBlocked.get(q) !== true);
    if (unknown.length > 0) {
      const found = await this.store.jobList({
        queues: unknown,
        states: ['blocked'],
        limit: 1,
        anyOrder: true,
      });
      // None found: none of them holds a blocked job (a put here marks its queue at once).
      if (found.length === 0) for (const q of unknown) this.hasBlocked.set(q, false);
      for (const doc of found) this.hasBlocked.set(doc.queue, true);
    }
    for (const queue of queues) {
      if (this.hasBlocked.get(queue) === true) await this.scanOnce(queue, now);
    }
  }

  /**
   * One pass of the periodic scan (what `maintain` does), for tests and for callers that run
   * without a runner pool. Returns how many blocked jobs it evaluated.
   */
  async scanOnce(queue: string, now: Date): Promise<number> {
    const limit = this.options.scanBatch;
    const page = await this.store.jobList({
      queue,
      states: ['blocked'],
      afterId: this.cursors.get(queue),
      limit,
    });
    const last = page[page.length - 1];
    const fromStart = !this.cursors.has(queue);
    if (page.length < limit || !last) this.cursors.delete(queue);
    else this.cursors.set(queue, last._id);
    if (page.length > 0) this.hasBlocked.set(queue, true);
    else if (fromStart) this.hasBlocked.set(queue, false);
    await this.evaluateAndRelease(queue, page, now);
    return page.length;
  }

  /** Evaluates `docs`, then the dependents of those that reached a final state. */
  private async evaluateAndRelease(queue: string, docs: JobDocument[], now: Date): Promise<void> {
    const cache: EdgeCache = new Map();
    const finished = await this.evaluateAll(docs, now, cache);
    if (finished.length > 0) await this.releaseDependents(queue, finished, now, cache);
  }

  /**
   * Evaluates the blocked dependents of `ids`, and theirs in turn when they end (a failure runs
   * down a chain at once). Terminates: only `blocked` documents are read, each leaves that state
   * at most once, and a final state is never left.
   */
  private async releaseDependents(
    queue: string,
    ids: string[],
    now: Date,
    cache: EdgeCache,
  ): Promise<void> {
    const work = [...ids];
    for (let id = work.shift(); id !== undefined; id = work.shift()) {
      let afterId: string | undefined;
      for (;;) {
        const page = await this.store.jobList({
          queue,
          states: ['blocked'],
          edge: id,
          afterId,
          limit: this.options.scanBatch,
        });
        work.push(...(await this.evaluateAll(page, now, cache)));
        const last = page[page.length - 1];
        if (page.length < this.options.scanBatch || !last) break;
        afterId = last._id;
      }
    }
  }

  /** Evaluates documents, a few at a time; returns the base IDs of those now final. */
  private async evaluateAll(docs: JobDocument[], now: Date, cache: EdgeCache): Promise<string[]> {
    const finished: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let doc = docs[next++]; doc !== undefined; doc = docs[next++]) {
        const state = await this.evaluate(doc, now, cache);
        if (state !== null && isFinal(state)) {
          cache.set(baseIdOf(doc), state);
          finished.push(baseIdOf(doc));
        }
      }
    };
    const n = Math.min(this.options.concurrency, docs.length);
    await Promise.all(Array.from({ length: n }, worker));
    return finished;
  }

  /** Decides one blocked document and writes the outcome; the new state, or null if none. */
  private async evaluate(doc: JobDocument, now: Date, cache: EdgeCache): Promise<JobState | null> {
    const log = this.options.logger.child({ queue: doc.queue, jobId: doc._id });
    const dispatchBy = doc.timeInfo.dispatchBy;
    if (dispatchBy !== null && dispatchBy < now) {
      // The deadline applies while blocked too: expire it (recorded, never deleted).
      const error = errorRecord(new DispatchExpiredError(doc._id, dispatchBy), now);
      return this.move(doc, failUpdate(doc, 'expired', error, now), now);
    }
    let manager: DependencyManager;
    try {
      manager = dependencyFromStored(doc.dependency);
    } catch (err) {
      const reason = toError(err).message;
      log.error({ reason }, 'stored dependency is malformed: job quarantined');
      const ok = await this.store.jobQuarantine({
        id: doc._id,
        modCount: doc.status.modCount,
        code: errorCodeOf(err),
        reason,
        now,
      });
      return ok ? 'quarantined' : null;
    }
    const decision = await manager.state(this.context(now, cache));
    switch (decision.state) {
      case 'blocked':
        return null;
      case 'ready':
        if (decision.reason) log.info({ reason: decision.reason }, 'dependency ready');
        return this.move(doc, { state: 'pending' }, now);
      case 'passed':
        log.debug({ reason: decision.reason }, 'dependency passed: completed without running');
        return this.move(
          doc,
          {
            state: 'completed',
            completed: true,
            inProgress: false,
            end: now,
            progress: 100,
            progressMessage: `completed without running: dependency passed (${decision.reason ?? manager.type})`,
          },
          now,
        );
      case 'unresolved': {
        const error = errorRecord(unresolvedError(doc._id, decision), now);
        log.info({ reason: error.message }, 'dependency unresolved: job failed');
        return this.move(doc, failUpdate(doc, 'failed', error, now), now);
      }
    }
  }

  /** One guarded transition out of `blocked`; the new state, or null when it changed meanwhile. */
  private async move(doc: JobDocument, update: JobUpdate, now: Date): Promise<JobState | null> {
    const modCount = await this.store.jobTransition({
      id: doc._id,
      modCount: doc.status.modCount,
      from: ['blocked'],
      update,
      now,
    });
    return modCount === null ? null : (update.state ?? null);
  }

  /** What a manager decides with: edge states from the newest attempt of each edge job. */
  private context(now: Date, cache: EdgeCache): DependencyContext {
    return {
      now,
      checks: this.options.checks,
      edgeStates: async (ids) => {
        const states = await Promise.all(
          ids.map(async (id): Promise<JobState | undefined> => {
            const known = cache.get(id);
            if (known !== undefined) return known;
            const state = (await this.store.jobGetLatest(id))?.state;
            if (state !== undefined && isFinal(state)) cache.set(id, state);
            return state;
          }),
        );
        return new Map(ids.map((id, i) => [id, states[i]]));
      },
    };
  }
}

function baseIdOf(doc: JobDocument): string {
  return doc.retryInfo.baseJobId || doc._id;
}

/** The typed error of an unresolved decision: naming the edge when an edge is the cause. */
function unresolvedError(jobId: string, decision: DependencyDecision): Error {
  return decision.edge
    ? new DependencyFailedError(jobId, decision.edge.id, decision.edge.state)
    : new DependencyUnresolvedError(jobId, decision.reason ?? 'no reason given');
}

function errorRecord(err: Error, now: Date): JobErrorRecord {
  return { message: err.message, code: errorCodeOf(err), at: now, retryable: false };
}

/** Ends a blocked attempt without running it, with `error` appended to its record. */
function failUpdate(
  doc: JobDocument,
  state: JobState,
  error: JobErrorRecord,
  now: Date,
): JobUpdate {
  return {
    state,
    completed: false,
    inProgress: false,
    end: now,
    errors: [...doc.status.errors, error].slice(-MAX_ERRORS_KEPT),
    errCount: doc.status.errCount + 1,
  };
}
