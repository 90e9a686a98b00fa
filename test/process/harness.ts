/**
 * Parent side of the multi-process tests: forks worker processes (worker.ts), collects what they
 * report over IPC, and makes sure none outlives the test file.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { RunRecord } from '../support/jobs';
import { eventually } from '../support/backends';
import { testUri } from '../support/server';
import {
  WORKER_CONFIG_ENV,
  type ForwardedEvent,
  type ParentMessage,
  type WorkerConfig,
  type WorkerMessage,
} from './worker';

/** A worker process and everything it reported. */
export class WorkerHandle {
  readonly runs: RunRecord[] = [];
  readonly events: { event: ForwardedEvent; jobId: string; info: Record<string, unknown> }[] = [];
  readonly errors: string[] = [];
  owner = '';
  ready = false;
  closed = false;
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  stderr = '';
  private readonly exitPromise: Promise<void>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: WorkerMessage) => this.onMessage(msg));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private onMessage(msg: WorkerMessage): void {
    switch (msg.kind) {
      case 'ready':
        this.owner = msg.owner;
        this.ready = true;
        break;
      case 'run':
        this.runs.push(msg.record);
        break;
      case 'event':
        this.events.push({ event: msg.event, jobId: msg.info.jobId, info: msg.info });
        break;
      case 'error':
        this.errors.push(msg.message);
        break;
      case 'closed':
        this.closed = true;
        break;
    }
  }

  /** Events of one kind (optionally for one job). */
  eventsOf(
    event: ForwardedEvent,
    jobId?: string,
  ): { jobId: string; info: Record<string, unknown> }[] {
    return this.events.filter(
      (e) => e.event === event && (jobId === undefined || e.jobId === jobId),
    );
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await eventually(
      `worker ${this.pid} ready`,
      () => {
        if (this.exited) {
          throw new Error(
            `worker ${this.pid} exited (${this.exitCode ?? this.exitSignal}) before ready:\n${this.stderr}`,
          );
        }
        return this.ready;
      },
      timeoutMs,
    );
  }

  /** Waits for the process to exit, up to `timeoutMs`; true when it did. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>(
      (resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)),
    );
    try {
      return await Promise.race([this.exitPromise.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the process with SIGKILL (no cleanup runs in it) and waits for it to be gone. */
  async kill9(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.waitExit(10_000);
  }

  /**
   * Asks the worker to close gracefully and waits for it to exit; falls back to SIGKILL.
   * Every IPC message it sent before 'closed' has been received once this returns.
   */
  async close(drainTimeoutMs = 2_000, timeoutMs = 15_000): Promise<void> {
    if (this.exited) return;
    if (this.child.connected) {
      const msg: ParentMessage = { kind: 'close', drainTimeoutMs };
      this.child.send(msg);
    } else {
      this.child.kill('SIGTERM');
    }
    if (!(await this.waitExit(timeoutMs))) await this.kill9();
  }
}

/** Forks workers and cleans them all up. */
export class WorkerPool {
  readonly workers: WorkerHandle[] = [];

  /** Forks one worker with `config` (the URI defaults to the harness's server). */
  spawn(config: WorkerConfig): WorkerHandle {
    const script = path.join(__dirname, 'worker.js');
    const child = fork(script, [], {
      env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify({ uri: testUri(), ...config }) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const handle = new WorkerHandle(child);
    this.workers.push(handle);
    return handle;
  }

  /** Every run reported by any worker. */
  runs(): RunRecord[] {
    return this.workers.flatMap((w) => w.runs);
  }

  /** Every event of one kind reported by any worker. */
  eventsOf(event: ForwardedEvent, jobId?: string): { jobId: string; pid: number }[] {
    return this.workers.flatMap((w) =>
      w.eventsOf(event, jobId).map((e) => ({ jobId: e.jobId, pid: w.pid })),
    );
  }

  /** Closes every worker gracefully (SIGKILL for stragglers). */
  async closeAll(drainTimeoutMs = 2_000): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(drainTimeoutMs)));
  }

  /** Kills every worker still alive (for after hooks: nothing may outlive the test file). */
  async killAll(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.kill9()));
  }
}

/** Counts occurrences of each key. */
export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
