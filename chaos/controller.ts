/**
 * The controller's side of the worker processes: forks chaos workers (worker.ts), kills them with
 * SIGKILL, starts replacements, closes them gracefully, and keeps what each one reported. A worker
 * that exits without being killed or asked to close has crashed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import {
  CHAOS_WORKER_CONFIG_ENV,
  type ChaosParentMessage,
  type ChaosWorkerConfig,
  type ChaosWorkerMessage,
} from './worker';

/** Distinct error messages kept per worker (the count is exact). */
const ERRORS_KEPT = 20;
/** Characters of a worker's stderr kept for the report. */
const STDERR_KEPT = 4_000;

/** One worker process and what it reported. */
export class ChaosWorker {
  owner = '';
  ready = false;
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exitedAt?: number;
  /** Set before the controller kills it or asks it to close. */
  expectedExit = false;
  errorCount = 0;
  readonly errors: string[] = [];
  lockLost = 0;
  quarantined = 0;
  connectRetries = 0;
  stderr = '';
  readonly startedAt = Date.now();
  private readonly exitPromise: Promise<void>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (msg: ChaosWorkerMessage) => this.onMessage(msg));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_KEPT);
    });
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitedAt = Date.now();
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Exited on its own: neither killed nor closed by the controller. */
  get crashed(): boolean {
    return this.exited && (!this.expectedExit || (this.exitCode !== 0 && this.exitSignal === null));
  }

  private onMessage(msg: ChaosWorkerMessage): void {
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

  /** Waits for the process to exit, up to `timeoutMs`; true when it did. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    try {
      return await Promise.race([this.exitPromise.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: nothing runs in the process any more; waits until it is gone. */
  async kill9(): Promise<void> {
    if (this.exited) return;
    this.expectedExit = true;
    this.child.kill('SIGKILL');
    await this.waitExit(10_000);
  }

  /** Asks for a graceful close (drain, then abort); SIGKILL after `timeoutMs`. */
  async close(drainTimeoutMs: number, timeoutMs = 20_000): Promise<void> {
    if (this.exited) return;
    this.expectedExit = true;
    if (this.child.connected) {
      const msg: ChaosParentMessage = { kind: 'close', drainTimeoutMs };
      this.child.send(msg);
    } else {
      this.child.kill('SIGTERM');
    }
    if (!(await this.waitExit(timeoutMs))) {
      this.child.kill('SIGKILL');
      await this.waitExit(10_000);
    }
  }
}

/** Every worker process of a run, past and present. */
export class WorkerFleet {
  readonly workers: ChaosWorker[] = [];

  constructor(private readonly config: ChaosWorkerConfig) {}

  /** Forks one worker. */
  spawn(): ChaosWorker {
    const child = fork(path.join(__dirname, 'worker.js'), [], {
      env: { ...process.env, [CHAOS_WORKER_CONFIG_ENV]: JSON.stringify(this.config) },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const worker = new ChaosWorker(child);
    this.workers.push(worker);
    return worker;
  }

  /** Workers still running. */
  live(): ChaosWorker[] {
    return this.workers.filter((w) => !w.exited);
  }

  /** When the process `pid` exited, if it did. */
  exitAt(pid: number): number | undefined {
    return this.workers.find((w) => w.pid === pid)?.exitedAt;
  }

  /** Workers that exited on their own. */
  crashed(): ChaosWorker[] {
    return this.workers.filter((w) => w.crashed);
  }

  async closeAll(drainTimeoutMs: number): Promise<void> {
    await Promise.all(this.live().map((w) => w.close(drainTimeoutMs)));
  }

  async killAll(): Promise<void> {
    await Promise.all(this.live().map((w) => w.kill9()));
  }
}
