/**
 * Parent side of the bench worker processes: forks them, relays what they report, and makes
 * sure none outlives the run (every child is tracked and killed on abort or exit). Forking,
 * exits, kills and graceful closes are test/support/fork.ts's, shared with the multi-process
 * tests and the chaos runs; only the bench's messages (ready, progress, metrics) are handled here.
 */
import path from 'node:path';
import { ForkedWorker, ForkedWorkers, forkWorker } from '../test/support/fork';
import {
  WORKER_CLOSE_TIMEOUT_MS,
  WORKER_CONFIG_ENV,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
  type WorkerMetrics,
} from './worker';

const READY_TIMEOUT_MS = 60_000;
/** How long a worker asked to close may take to exit before SIGKILL. */
const EXIT_TIMEOUT_MS = 15_000;
/** Characters of a worker's stderr kept for error messages. */
const STDERR_KEPT = 4_000;

/** One forked worker. */
export class WorkerProcess extends ForkedWorker<FromWorker> {
  finals = 0;
  metrics?: WorkerMetrics;
  private markResolve?: (at: number) => void;
  private readonly marked = new Promise<number>((resolve) => (this.markResolve = resolve));
  readonly errors: string[] = [];
  private readyResolve?: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.readyResolve = resolve));

  constructor(
    config: WorkerConfig,
    private readonly relay: (msg: FromWorker, worker: WorkerProcess) => void = () => {},
  ) {
    super(forkWorker(path.join(__dirname, 'worker.js'), WORKER_CONFIG_ENV, config), STDERR_KEPT);
  }

  protected onMessage(msg: FromWorker): void {
    switch (msg.kind) {
      case 'ready':
        this.readyResolve?.();
        break;
      case 'progress':
        this.finals = msg.finals;
        break;
      case 'metrics':
        this.metrics = msg.metrics;
        break;
      case 'error':
        this.errors.push(msg.message);
        break;
      case 'marked':
        this.markResolve?.(msg.at);
        break;
      default:
        break;
    }
    this.relay(msg, this);
  }

  /** Resolves when the worker is ready; rejects if it dies or takes too long. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.ready,
        this.whenExited().then(() => {
          throw new Error(`worker ${this.pid} exited (${this.exitCode}) early:\n${this.stderr}`);
        }),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`worker ${this.pid} not ready in ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  go(): void {
    const msg: ToWorker = { kind: 'go' };
    if (this.child.connected) this.child.send(msg);
  }

  /**
   * Resolves with the time (epoch ms) at which the worker restarted its meter (`markAt`);
   * rejects when it exits first.
   */
  whenMarked(): Promise<number> {
    return Promise.race([
      this.marked,
      this.whenExited().then(() => {
        throw new Error(`worker ${this.pid} exited before its mark:\n${this.stderr}`);
      }),
    ]);
  }

  /**
   * Lets the worker report its metrics, close and exit (SIGKILL if it hangs); the metrics, or
   * undefined when it sent none.
   */
  async stop(): Promise<WorkerMetrics | undefined> {
    // The worker sends its metrics before it closes its consumer, so they precede its exit.
    await this.close(WORKER_CLOSE_TIMEOUT_MS, EXIT_TIMEOUT_MS);
    return this.metrics;
  }
}

/** Every worker forked by this bench process. */
class BenchWorkers extends ForkedWorkers<WorkerProcess> {
  /** Forks one worker and tracks it. */
  spawn(
    config: WorkerConfig,
    relay?: (msg: FromWorker, worker: WorkerProcess) => void,
  ): WorkerProcess {
    return this.add(new WorkerProcess(config, relay));
  }
}

// One per bench process, like the process itself: the exit handler must reach every child.
const forked = new BenchWorkers();
process.on('exit', () => killAllWorkers());

/** Kills every worker still running (abort path); the SIGKILLs are sent before this returns. */
export function killAllWorkers(): void {
  void forked.killAll();
}

/** Forks `count` workers and waits until all are ready (killing them all if one fails). */
export async function forkWorkers(
  count: number,
  config: WorkerConfig,
  onMessage?: (msg: FromWorker, worker: WorkerProcess) => void,
): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: count }, () => forked.spawn(config, onMessage));
  try {
    await Promise.all(workers.map((w) => w.waitReady()));
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop()));
    throw err;
  }
  return workers;
}
