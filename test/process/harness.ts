/**
 * Parent side of the multi-process tests: forks worker processes (worker.ts, scope-worker.ts),
 * collects what they report over IPC, and makes sure none outlives the test file (what a test
 * sets up around them is in deployment.ts). Forking,
 * exits, kills and graceful closes are test/support/fork.ts's (shared with the chaos runs).
 */
import path from 'node:path';
import type { RunRecord } from '../support/jobs';
import { eventually } from '../support/backends';
import { ForkedWorker, ForkedWorkers, forkWorker } from '../support/fork';
import { testUri } from '../support/server';
import {
  WORKER_CONFIG_ENV,
  type ForwardedEvent,
  type WorkerConfig,
  type WorkerMessage,
} from './worker';

/** A worker process and everything it reported. */
export class WorkerHandle extends ForkedWorker<WorkerMessage> {
  readonly runs: RunRecord[] = [];
  readonly events: { event: ForwardedEvent; jobId: string; info: Record<string, unknown> }[] = [];
  readonly errors: string[] = [];
  owner = '';
  ready = false;
  closed = false;

  protected onMessage(msg: WorkerMessage): void {
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
}

/** Forks workers and cleans them all up. */
export class WorkerPool extends ForkedWorkers<WorkerHandle> {
  /** Forks one worker with `config` (the URI defaults to the harness's server). */
  spawn(config: WorkerConfig): WorkerHandle {
    const script = path.join(__dirname, 'worker.js');
    const child = forkWorker(script, WORKER_CONFIG_ENV, { uri: testUri(), ...config });
    return this.add(new WorkerHandle(child));
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
}

/** Counts occurrences of each key. */
export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}
