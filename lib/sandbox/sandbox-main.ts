/**
 * The entry point of a sandbox (a worker thread or a child process started by sandbox.ts). It
 * imports the job module named by its worker (registering the job classes there), says `ready`,
 * then runs one job at a time: the job is rebuilt from its document by the registry, runs with
 * a context whose signal, logger and progress are relayed to the worker, and what it changed on
 * itself (payload, errors, retry ask) is sent back for the worker to record.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import pino, { type DestinationStream } from 'pino';
import { InvalidArgumentError, UnknownJobTypeError } from '../errors';
import type { BaseJob, JobContext } from '../job/base-job';
import { encodeResult } from '../job/payload-codec';
import { defaultRegistry, Registry } from '../job/registry';
import { fromWire, toWire, type FromSandbox, type JobChanges, type ToSandbox } from './protocol';

/** The two ways to talk to the worker: a thread's port or a child process's IPC channel. */
interface Channel {
  send(msg: FromSandbox, sent?: () => void): void;
  onMessage(listener: (msg: ToSandbox) => void): void;
}

function openChannel(): Channel {
  if (!isMainThread && parentPort) {
    const port = parentPort;
    return {
      send: (msg, sent) => {
        port.postMessage(msg);
        sent?.();
      },
      onMessage: (listener) => port.on('message', listener),
    };
  }
  if (!process.send) throw new Error('a sandbox runs as a worker thread or a forked process');
  // The worker went away: nothing is left to run for.
  process.on('disconnect', () => process.exit(0));
  return {
    send: (msg, sent) => process.send?.(msg, undefined, {}, () => sent?.()),
    onMessage: (listener) => process.on('message', listener),
  };
}

/** A run under way: its abort controller and the progress writes it waits for. */
interface Run {
  controller: AbortController;
  progressWaits: Map<number, () => void>;
}

const channel = openChannel();
const runs = new Map<number, Run>();
let registries: Registry[] = [defaultRegistry];

/** An error nothing caught ends the sandbox; the worker records it against the job. */
function fatal(err: unknown): void {
  // A thread's messages are delivered before its exit; a process exits once IPC has sent it.
  channel.send({ t: 'fatal', error: toWire(err) }, () => process.exit(1));
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

/** Imports the job module; its registries (the default one and any it exports) serve the runs. */
async function load(moduleUrl: string): Promise<void> {
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  const exported = [...Object.values(mod), ...Object.values(asRecord(mod.default))];
  const own = exported.filter((v): v is Registry => v instanceof Registry);
  registries = [...new Set([...own, defaultRegistry])];
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/** What the job changed on itself, to be applied to the worker's copy. */
function changesOf(job: BaseJob, registry: Registry, queue: string): JobChanges {
  let payload: Record<string, unknown> = {};
  try {
    payload = registry.toDocument(job, queue, new Date()).payload;
  } catch (err) {
    // An unstorable result fails the attempt, keeping the stored payload (as in the worker).
    job.addError(err);
  }
  let returnValue: unknown;
  try {
    // Encoded here: what crosses to the worker is what will be stored (Dates, plain objects).
    returnValue = encodeResult(job.id, job.returnValue);
  } catch (err) {
    job.addError(err);
  }
  return {
    payload,
    returnValue,
    log: job.status.log,
    logDropped: job.status.logDropped,
    errors: job.status.errors,
    errCount: job.status.errCount,
    progress: job.status.progress,
    progressMessage: job.status.progressMessage,
    needsRetry: job.retryInfo.needsRetry,
    waitUntilMs: job.retryInfo.waitUntilMs,
  };
}

async function runJob(msg: Extract<ToSandbox, { t: 'run' }>): Promise<void> {
  const run: Run = { controller: new AbortController(), progressWaits: new Map() };
  runs.set(msg.run, run);
  const { doc } = msg;
  const registry = registries.find((r) => r.classOf(doc.type.name));
  let job: BaseJob | undefined;
  let error: unknown;
  try {
    if (!registry) {
      const err = new UnknownJobTypeError(doc.type.name, doc._id);
      err.message += ' in its sandbox: the sandbox module does not register it';
      throw err;
    }
    job = registry.fromDocument(doc);
    const value: unknown = await job.run(contextOf(msg, run, job));
    if (value !== undefined) job.returnValue = value;
  } catch (err) {
    error = err;
  } finally {
    runs.delete(msg.run);
  }
  const changes: JobChanges =
    job && registry
      ? changesOf(job, registry, msg.queue)
      : {
          payload: {},
          errors: doc.status.errors,
          errCount: doc.status.errCount,
          needsRetry: false,
          waitUntilMs: doc.retryInfo.waitUntilMs,
        };
  const done: FromSandbox = { t: 'done', run: msg.run, changes };
  if (error !== undefined) done.error = toWire(error);
  channel.send(done);
}

function contextOf(msg: Extract<ToSandbox, { t: 'run' }>, run: Run, job: BaseJob): JobContext {
  let seq = 0;
  const stream: DestinationStream = {
    write: (line: string) => channel.send({ t: 'log', run: msg.run, line }),
  };
  return {
    signal: run.controller.signal,
    // Lines carry only what the job logged; the worker's logger adds job ID, type and queue.
    logger: pino({ level: msg.logLevel, base: undefined, timestamp: false }, stream),
    queue: msg.queue,
    log: (message) => job.appendLog(message),
    // The store lives in the worker: a sandboxed job has no session to commit its effects with.
    transaction: async () => {
      throw new InvalidArgumentError(
        `job ${job.id} runs in a sandbox and cannot use ctx.transaction`,
        { jobId: job.id, queue: msg.queue },
      );
    },
    attempt: msg.attempt,
    progress: (percent, message) => {
      const p = Math.max(0, Math.min(100, percent));
      job.status.progress = p;
      if (message !== undefined) job.status.progressMessage = message;
      const n = ++seq;
      // Resolves once the worker has stored it (or given up on it), as in the worker itself.
      const stored = new Promise<void>((resolve) => run.progressWaits.set(n, resolve));
      channel.send({ t: 'progress', run: msg.run, seq: n, percent: p, message });
      return stored;
    },
  };
}

channel.onMessage((msg) => {
  switch (msg.t) {
    case 'run':
      void runJob(msg);
      break;
    case 'abort':
      runs.get(msg.run)?.controller.abort(fromWire(msg.reason));
      break;
    case 'progress-done': {
      const run = runs.get(msg.run);
      run?.progressWaits.get(msg.seq)?.();
      run?.progressWaits.delete(msg.seq);
      break;
    }
  }
});

const moduleUrl = (workerData as { module?: string } | null)?.module ?? process.argv[2];
load(moduleUrl).then(
  () => channel.send({ t: 'ready' }),
  (err: unknown) => channel.send({ t: 'load-failed', error: toWire(err) }),
);
