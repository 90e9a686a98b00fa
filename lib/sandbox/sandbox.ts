/**
 * One sandbox: a worker thread or a child process running sandbox-main, which has imported the
 * job module. It runs one job at a time and says how the run ended: the job returned or threw
 * (with what it changed on itself), the sandbox died under it (exit, crash, out of memory), or
 * it was killed because the job did not return within `killAfterMs` of an abort.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SandboxCrashedError, SandboxOutOfMemoryError, toError } from '../errors';
import type { JobDocument } from '../types';
import {
  fromWire,
  toWire,
  type FromSandbox,
  type JobChanges,
  type ToSandbox,
  type WireError,
} from './protocol';
import type { ResolvedSandboxOptions } from './sandbox-options';

/** One job to run in a sandbox, and where its progress and log lines go. */
export interface SandboxRun {
  doc: JobDocument;
  queue: string;
  attempt: number;
  logLevel: string;
  signal: AbortSignal;
  onProgress(percent: number, message?: string): Promise<void>;
  onLog(line: string): void;
}

/** How a run in a sandbox ended. */
export type SandboxOutcome =
  /** The job returned (`error` absent) or threw; `changes` is what it changed on itself. */
  | { kind: 'done'; changes: JobChanges; error?: Error }
  /** The sandbox died under the job. */
  | { kind: 'crashed'; error: SandboxCrashedError | SandboxOutOfMemoryError }
  /** Killed: the job had not returned `killAfterMs` after its abort. */
  | { kind: 'killed' };

/** How the thread or process ended. */
interface Exit {
  code: number | null;
  signal: string | null;
  outOfMemory: boolean;
}

/** The thread or process under a sandbox, behind one small interface. */
interface Host {
  send(msg: ToSandbox): void;
  kill(): void;
  /** Whether an idle sandbox keeps the worker's process alive. */
  ref(on: boolean): void;
}

/** Last bytes of a process's stderr kept to explain its death. */
const STDERR_TAIL_BYTES = 8_192;

/** sandbox-main beside this module: compiled JavaScript, or TypeScript under a loader (tsx). */
function entryPath(): string {
  const base = path.join(__dirname, 'sandbox-main');
  return ['.js', '.ts'].map((ext) => base + ext).find((f) => existsSync(f)) ?? `${base}.js`;
}

/** Node options of a child process: the worker's own, with the heap limit asked for. */
function childExecArgv(maxOldSpaceMb: number | null): string[] {
  const own = process.execArgv.filter(
    (a) => !a.startsWith('--max-old-space-size') && !a.startsWith('--inspect'),
  );
  return maxOldSpaceMb === null ? own : [...own, `--max-old-space-size=${maxOldSpaceMb}`];
}

/** A sandbox running (or starting) a job module. */
export class Sandbox {
  private host!: Host;
  private runSeq = 0;
  private current?: { id: number; run: SandboxRun; finish: (o: SandboxOutcome) => void };
  private ready?: { resolve: () => void; reject: (err: Error) => void };
  private fatalError?: WireError;
  private killedAfterAbort = false;
  private stderrTail = '';
  private exited = false;
  /** False once the thread or process has ended (or is being killed). */
  alive = true;

  private constructor(
    private readonly spec: ResolvedSandboxOptions,
    /** Called once the thread or process has ended. */
    private readonly onGone: (sandbox: Sandbox) => void,
  ) {}

  /**
   * Starts a sandbox and waits until it has imported the job module. Rejects with the import's
   * error, with SandboxCrashedError if it dies first, or with `signal`'s reason (then killed).
   */
  static async start(
    spec: ResolvedSandboxOptions,
    jobId: string,
    signal: AbortSignal,
    onGone: (sandbox: Sandbox) => void,
  ): Promise<Sandbox> {
    const sandbox = new Sandbox(spec, onGone);
    const ready = new Promise<void>((resolve, reject) => (sandbox.ready = { resolve, reject }));
    sandbox.host =
      spec.mode === 'thread' ? sandbox.startThread(jobId) : sandbox.startProcess(jobId);
    const onAbort = () => {
      sandbox.kill();
      sandbox.ready?.reject(toError(signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      await ready;
      return sandbox;
    } finally {
      signal.removeEventListener('abort', onAbort);
      sandbox.ready = undefined;
    }
  }

  private startThread(jobId: string): Host {
    const limit = this.spec.maxOldSpaceMb;
    const worker = new Worker(entryPath(), {
      workerData: { module: this.spec.module },
      resourceLimits: limit === null ? undefined : { maxOldGenerationSizeMb: limit },
    });
    let error: (Error & { code?: string }) | undefined;
    worker.on('message', (msg: FromSandbox) => this.onMessage(msg));
    worker.on('error', (err) => (error = err as Error & { code?: string }));
    worker.on('exit', (code) => {
      const outOfMemory = error?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      if (error && !outOfMemory && !this.fatalError) this.fatalError = toWire(error);
      this.onExit(jobId, { code, signal: null, outOfMemory });
    });
    return {
      send: (msg) => worker.postMessage(msg),
      kill: () => void worker.terminate(),
      ref: (on) => (on ? worker.ref() : worker.unref()),
    };
  }

  private startProcess(jobId: string): Host {
    const child: ChildProcess = fork(entryPath(), [this.spec.module], {
      execArgv: childExecArgv(this.spec.maxOldSpaceMb),
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    child.on('message', (msg: FromSandbox) => this.onMessage(msg));
    child.stderr?.on('data', (chunk: Buffer) => {
      // Passed through (a job's console.error is seen as before) and kept to explain a crash.
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL_BYTES);
    });
    child.on('error', (err) => {
      if (!this.fatalError) this.fatalError = toWire(err);
      // A process that could not be spawned sends no 'exit'.
      if (child.pid === undefined)
        this.onExit(jobId, { code: null, signal: null, outOfMemory: false });
    });
    child.on('exit', (code, signal) => {
      // V8 reports a heap out of memory on stderr, then aborts the process.
      const outOfMemory = /heap out of memory/i.test(this.stderrTail);
      this.onExit(jobId, { code, signal, outOfMemory });
    });
    return {
      send: (msg) => {
        if (child.connected) child.send(msg);
      },
      kill: () => void child.kill('SIGKILL'),
      ref: (on) => {
        const handles = [child, child.channel, child.stderr] as ({
          ref?(): void;
          unref?(): void;
        } | null)[];
        for (const h of handles) (on ? h?.ref : h?.unref)?.call(h);
      },
    };
  }

  /** Runs one job; resolves with how the run ended (never rejects). */
  run(run: SandboxRun): Promise<SandboxOutcome> {
    if (!this.alive || this.current) throw new Error('sandbox is not available');
    const id = ++this.runSeq;
    this.host.ref(true);
    return new Promise<SandboxOutcome>((resolve) => {
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.host.send({ t: 'abort', run: id, reason: toWire(run.signal.reason) });
        killTimer = setTimeout(() => {
          this.killedAfterAbort = true;
          this.kill();
        }, this.spec.killAfterMs);
      };
      this.current = {
        id,
        run,
        finish: (outcome) => {
          clearTimeout(killTimer);
          run.signal.removeEventListener('abort', onAbort);
          this.current = undefined;
          if (this.alive) this.host.ref(false);
          resolve(outcome);
        },
      };
      this.host.send({
        t: 'run',
        run: id,
        doc: run.doc,
        queue: run.queue,
        attempt: run.attempt,
        logLevel: run.logLevel,
      });
      if (run.signal.aborted) onAbort();
      else run.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends the thread or process at once; a run under way ends 'crashed' or 'killed'. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.host.kill();
  }

  /** Whether it may take another job. */
  get usable(): boolean {
    return this.alive && !this.current;
  }

  private onMessage(msg: FromSandbox): void {
    const current = this.current;
    switch (msg.t) {
      case 'ready':
        this.ready?.resolve();
        break;
      case 'load-failed':
        this.kill();
        this.ready?.reject(fromWire(msg.error));
        break;
      case 'fatal':
        this.fatalError = msg.error;
        break;
      case 'progress':
        if (current?.id !== msg.run) return;
        void current.run
          .onProgress(msg.percent, msg.message)
          .catch(() => undefined)
          .finally(() => this.host.send({ t: 'progress-done', run: msg.run, seq: msg.seq }));
        break;
      case 'log':
        if (current?.id === msg.run) current.run.onLog(msg.line);
        break;
      case 'done':
        if (current?.id !== msg.run) return;
        current.finish({
          kind: 'done',
          changes: msg.changes,
          error: msg.error ? fromWire(msg.error) : undefined,
        });
        break;
    }
  }

  private onExit(jobId: string, exit: Exit): void {
    if (this.exited) return;
    this.exited = true;
    this.alive = false;
    const id = this.current?.run.doc._id ?? jobId;
    const detail = this.fatalError ? `${this.fatalError.name}: ${this.fatalError.message}` : '';
    const error = exit.outOfMemory
      ? new SandboxOutOfMemoryError(id, this.spec.maxOldSpaceMb)
      : new SandboxCrashedError(id, exit.code, exit.signal, detail);
    this.ready?.reject(error);
    this.current?.finish(this.killedAfterAbort ? { kind: 'killed' } : { kind: 'crashed', error });
    this.onGone(this);
  }
}
