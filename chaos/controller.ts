/**
 * The controller's side of the worker processes: forks chaos workers (worker.ts), kills them with
 * SIGKILL, starts replacements, closes them gracefully, and keeps what each one reported. A worker
 * that exits without being killed or asked to close has crashed. Forking, exits, kills and
 * graceful closes are test/support/fork.ts's (shared with the multi-process tests).
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ForkedWorker, ForkedWorkers, forkWorker } from '../test/support/fork';
import { CHAOS_WORKER_CONFIG_ENV, type ChaosWorkerConfig, type ChaosWorkerMessage } from './worker';

/** Distinct error messages kept per worker (the count is exact). */
const ERRORS_KEPT = 20;
/** Characters of a worker's stderr kept for the report. */
const STDERR_KEPT = 4_000;
/** How long a worker asked to close may take before SIGKILL. */
const CLOSE_TIMEOUT_MS = 20_000;

/** One worker process and what it reported. */
export class ChaosWorker extends ForkedWorker<ChaosWorkerMessage> {
  owner = '';
  ready = false;
  errorCount = 0;
  readonly errors: string[] = [];
  lockLost = 0;
  quarantined = 0;
  connectRetries = 0;
  readonly startedAt = Date.now();

  constructor(child: ChildProcess) {
    super(child, STDERR_KEPT);
  }

  /** Exited on its own: neither killed nor closed by the controller. */
  get crashed(): boolean {
    return this.exited && (!this.expectedExit || (this.exitCode !== 0 && this.exitSignal === null));
  }

  protected onMessage(msg: ChaosWorkerMessage): void {
    switch (msg.kind) {
      case 'ready':
        this.owner = msg.owner;
        this.ready = true;
        break;
      case 'connect-retry':
        this.connectRetries += 1;
        break;
      case 'event':
        if (msg.event === 'lock-lost') this.lockLost += 1;
        else this.quarantined += 1;
        break;
      case 'error':
        this.errorCount += 1;
        if (this.errors.length < ERRORS_KEPT && !this.errors.includes(msg.message))
          this.errors.push(msg.message);
        break;
      case 'closed':
        break;
    }
  }
}

/** Every worker process of a run, past and present. */
export class WorkerFleet extends ForkedWorkers<ChaosWorker> {
  constructor(private readonly config: ChaosWorkerConfig) {
    super();
  }

  /** Forks one worker. */
  spawn(): ChaosWorker {
    const child = forkWorker(
      path.join(__dirname, 'worker.js'),
      CHAOS_WORKER_CONFIG_ENV,
      this.config,
    );
    return this.add(new ChaosWorker(child));
  }

  /** When the process `pid` exited, if it did. */
  exitAt(pid: number): number | undefined {
    return this.workers.find((w) => w.pid === pid)?.exitedAt;
  }

  /** Workers that exited on their own. */
  crashed(): ChaosWorker[] {
    return this.workers.filter((w) => w.crashed);
  }

  /** Closes every live worker gracefully (drain, then abort); SIGKILL for stragglers. */
  override async closeAll(drainTimeoutMs: number): Promise<void> {
    await super.closeAll(drainTimeoutMs, CLOSE_TIMEOUT_MS);
  }
}
