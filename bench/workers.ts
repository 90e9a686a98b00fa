/**
 * Parent side of the bench worker processes: forks them, relays what they report, and makes
 * sure none outlives the run (every child is tracked and killed on abort or exit).
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import {
  WORKER_CONFIG_ENV,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
  type WorkerMetrics,
} from './worker';

const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 15_000;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Kills every worker still running (abort path). */
export function killAllWorkers(): void {
  for (const child of live) child.kill('SIGKILL');
}

/** One forked worker. */
export class WorkerProcess {
  finals = 0;
  metrics?: WorkerMetrics;
  stderr = '';
  readonly errors: string[] = [];
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private readyResolve?: () => void;
  private readonly ready: Promise<void>;
  private metricsResolve?: () => void;
  private exitCode: number | null = null;
  private hasExited = false;

  constructor(
    config: WorkerConfig,
    private readonly onMessage: (msg: FromWorker, worker: WorkerProcess) => void = () => {},
  ) {
    this.child = fork(path.join(__dirname, 'worker.js'), [], {
      env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    live.add(this.child);
    this.child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exitCode = code;
        this.hasExited = true;
        live.delete(this.child);
        resolve();
      });
    });
    this.child.on('message', (msg: FromWorker) => this.handle(msg));
  }

  private handle(msg: FromWorker): void {
    switch (msg.kind) {
      case 'ready':
        this.readyResolve?.();
        break;
      case 'progress':
        this.finals = msg.finals;
        break;
      case 'metrics':
        this.metrics = msg.metrics;
        this.metricsResolve?.();
        break;
      case 'error':
        this.errors.push(msg.message);
        break;
      default:
        break;
    }
    this.onMessage(msg, this);
  }

  /** True once the process is gone. */
  get gone(): boolean {
    return this.hasExited;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves when the worker is ready; rejects if it dies or takes too long. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.ready,
        this.exited.then(() => {
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

  private post(msg: ToWorker): void {
    if (this.child.connected) this.child.send(msg);
  }

  go(): void {
    this.post({ kind: 'go' });
  }

  /** Asks for the metrics, lets the worker close and exit; SIGKILL if it hangs. */
  async stop(): Promise<WorkerMetrics | undefined> {
    if (!this.hasExited) {
      const gotMetrics = new Promise<void>((resolve) => (this.metricsResolve = resolve));
      this.post({ kind: 'stop' });
      await Promise.race([gotMetrics, this.exited]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, EXIT_TIMEOUT_MS);
      });
      await Promise.race([this.exited, timeout]);
      clearTimeout(timer);
      if (!this.hasExited) {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.metrics;
  }
}

/** Forks `count` workers and waits until all are ready (killing them all if one fails). */
export async function forkWorkers(
  count: number,
  config: WorkerConfig,
  onMessage?: (msg: FromWorker, worker: WorkerProcess) => void,
): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: count }, () => new WorkerProcess(config, onMessage));
  try {
    await Promise.all(workers.map((w) => w.waitReady()));
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop()));
    throw err;
  }
  return workers;
}
