/**
 * Parent side of forked worker processes, for the multi-process tests (test/process/harness.ts),
 * the chaos runs (chaos/controller.ts) and the benchmark (bench/workers.ts): forks a script with its JSON config in an
 * environment variable and an IPC channel, keeps what the process writes to stderr and how it
 * exited, and ends it with SIGKILL or a graceful close (a 'close' message; SIGTERM without IPC;
 * SIGKILL if it does not exit in time). What a worker reports over IPC is its subclass's.
 */
import { fork, type ChildProcess } from 'node:child_process';

/** The message that asks a worker to close gracefully (every worker script understands it). */
/** Longest wait, after a worker exited, for the IPC messages it sent before. */
const IPC_DRAIN_MS = 2_000;

export interface CloseMessage {
  kind: 'close';
  drainTimeoutMs?: number;
}

/** How long a SIGKILLed process may take to be gone. */
const KILL_WAIT_MS = 10_000;
/** Defaults of `close`: how long the worker drains its runs, and waits in all before SIGKILL. */
const CLOSE_DRAIN_MS_DEFAULT = 2_000;
const CLOSE_TIMEOUT_MS_DEFAULT = 15_000;

/** Forks `script` with `config` as JSON in the environment variable `configEnv`. */
export function forkWorker(script: string, configEnv: string, config: unknown): ChildProcess {
  return fork(script, [], {
    env: { ...process.env, [configEnv]: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
}

/** A forked worker process; subclasses keep what it reports over IPC. */
export abstract class ForkedWorker<FromChild> {
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  exitedAt?: number;
  /** Set before the parent kills it or asks it to close. */
  expectedExit = false;
  stderr = '';
  private readonly exitPromise: Promise<void>;

  /** Keeps the last `stderrKept` characters of the process's stderr. */
  constructor(
    readonly child: ChildProcess,
    stderrKept = Infinity,
  ) {
    child.on('message', (msg: FromChild) => this.onMessage(msg));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      if (this.stderr.length > stderrKept) this.stderr = this.stderr.slice(-stderrKept);
    });
    // IPC messages can still be in flight when 'exit' comes; the channel's 'disconnect' comes
    // after the last of them, so waiting for both means every message sent has been handled.
    const disconnected = new Promise<void>((resolve) => {
      if (!child.connected) resolve();
      else child.once('disconnect', () => resolve());
    });
    this.exitPromise = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitedAt = Date.now();
        this.exitCode = code;
        this.exitSignal = signal;
        // Bounded: a channel a grandchild keeps open must not hold the exit back for good.
        const bound = setTimeout(() => resolve(), IPC_DRAIN_MS);
        void disconnected.then(() => {
          clearTimeout(bound);
          resolve();
        });
      });
    }).then(() => {
      this.exited = true;
    });
  }

  /** Handles one IPC message of the worker. */
  protected abstract onMessage(msg: FromChild): void;

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves once the process has exited (for races with other events; never rejects). */
  whenExited(): Promise<void> {
    return this.exitPromise;
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
    this.expectedExit = true;
    this.child.kill('SIGKILL');
    await this.waitExit(KILL_WAIT_MS);
  }

  /**
   * Asks the worker to close gracefully (drain for `drainTimeoutMs`, then abort) and waits up to
   * `timeoutMs` for it to exit; SIGKILL after that. Every IPC message it sent before exiting has
   * been received once this returns.
   */
  async close(
    drainTimeoutMs = CLOSE_DRAIN_MS_DEFAULT,
    timeoutMs = CLOSE_TIMEOUT_MS_DEFAULT,
  ): Promise<void> {
    if (this.exited) return;
    this.expectedExit = true;
    if (this.child.connected) {
      const msg: CloseMessage = { kind: 'close', drainTimeoutMs };
      this.child.send(msg);
    } else {
      this.child.kill('SIGTERM');
    }
    if (!(await this.waitExit(timeoutMs))) await this.kill9();
  }
}

/** Every worker process forked for a run or a test file, so none outlives it. */
export class ForkedWorkers<W extends ForkedWorker<unknown>> {
  readonly workers: W[] = [];

  /** Tracks `worker`; returns it. */
  protected add(worker: W): W {
    this.workers.push(worker);
    return worker;
  }

  /** Workers still running. */
  live(): W[] {
    return this.workers.filter((w) => !w.exited);
  }

  /** Closes every live worker gracefully (SIGKILL for stragglers). */
  async closeAll(drainTimeoutMs?: number, timeoutMs?: number): Promise<void> {
    await Promise.all(this.live().map((w) => w.close(drainTimeoutMs, timeoutMs)));
  }

  /** Kills every worker still alive (for after hooks: nothing may outlive the run). */
  async killAll(): Promise<void> {
    await Promise.all(this.live().map((w) => w.kill9()));
  }
}
