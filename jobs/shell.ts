/**
 * `ShellJob` (amboy's shell job): runs one command with arguments, an environment and a working
 * directory, and keeps its exit code and the tail of its output.
 *
 * - No shell: the command and each argument go to the program as they are (`spawn` without
 *   `shell`), so nothing in them is ever interpreted (`$(...)`, `;`, globs).
 * - The command runs in a process group of its own: aborting the job (by ID, max time, shutdown)
 *   sends SIGTERM to the whole group, then SIGKILL after `killGraceMs`, so children it started
 *   die with it. (Detached from the worker, it also survives a worker crash: POSIX only.)
 * - A non-zero exit (or a signal) fails the attempt with `CommandFailedError`, retried like any
 *   failure while attempts remain; when `retryExitCodes` lists codes, only those are retried
 *   (any other exit ends the job at once).
 * - To skip the command when its output exists, give it a creates-file dependency:
 *   `ShellJob.create({ command: 'make', args: ['out.bin'] }, { dependency: createsFile('out.bin') })`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CommandFailedError, InvalidArgumentError } from '../lib/errors';
import { BaseJob, type JobContext } from '../lib/job/base-job';
import { JobType } from '../lib/job/registry';
import { checkNumber } from '../lib/validate';

/** Bytes of stdout and of stderr kept (the last ones). */
export const SHELL_MAX_OUTPUT_BYTES_DEFAULT = 64 * 1024;
/** Most output bytes a job may keep per stream (both are stored with the job). */
export const SHELL_MAX_OUTPUT_BYTES_BOUND = 4 * 1024 * 1024;
/** Time between SIGTERM and SIGKILL when a command is aborted. */
export const SHELL_KILL_GRACE_MS_DEFAULT = 2_000;
/** After the command exits, how long its output pipes may stay open (held by a child it left). */
export const SHELL_CLOSE_GRACE_MS = 1_000;

/** Keeps the last `max` bytes written to it. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** True once bytes were dropped. */
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.max && this.chunks.length > 0) {
      const over = this.bytes - this.max;
      const first = this.chunks[0];
      this.truncated = true;
      if (first.length <= over) {
        this.chunks.shift();
        this.bytes -= first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.bytes -= over;
      }
    }
  }

  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Runs a command; see the module comment. */
@JobType('drover.shell')
export class ShellJob extends BaseJob {
  command = '';
  args: string[] = [];
  /** Environment variables, over the worker's own when `inheritEnv` is true. */
  env: Record<string, string> = {};
  /** Start from the worker's environment. Without it, give `PATH` or an absolute command. */
  inheritEnv = true;
  /** Working directory; the worker's when empty. */
  cwd = '';
  maxOutputBytes = SHELL_MAX_OUTPUT_BYTES_DEFAULT;
  killGraceMs = SHELL_KILL_GRACE_MS_DEFAULT;
  /**
   * When not empty, the only exit codes retried (e.g. a tool's "temporarily unavailable"); any
   * other failure ends the job at once. Empty (default): every failure is retried.
   */
  retryExitCodes: number[] = [];

  // Results, stored with the attempt.
  exitCode: number | null = null;
  /** The signal that ended the command, if one did. */
  exitSignal: string | null = null;
  /** The last `maxOutputBytes` of standard output. */
  stdout = '';
  stderr = '';
  /** True when output was cut to its tail. */
  outputTruncated = false;
  durationMs = 0;

  async run(ctx: JobContext): Promise<void> {
    if (typeof this.command !== 'string' || this.command.length === 0) {
      throw new InvalidArgumentError(`job ${this.id}: ShellJob needs a command`);
    }
    if (!Array.isArray(this.args) || !this.args.every((a) => typeof a === 'string')) {
      throw new InvalidArgumentError(`job ${this.id}: ShellJob args must be strings`);
    }
    const maxBytes = checkNumber(
      'maxOutputBytes',
      this.maxOutputBytes,
      0,
      SHELL_MAX_OUTPUT_BYTES_BOUND,
    );
    const graceMs = checkNumber('killGraceMs', this.killGraceMs, 0, 3_600_000);
    ctx.signal.throwIfAborted();
    const started = Date.now();
    const out = new OutputTail(maxBytes);
    const err = new OutputTail(maxBytes);
    const child = spawn(this.command, this.args, {
      cwd: this.cwd || undefined,
      env: this.inheritEnv ? { ...process.env, ...this.env } : { ...this.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    const killer = new TreeKiller(child, graceMs);
    const onAbort = () => killer.start();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let ended: { code: number | null; signal: NodeJS.Signals | null };
    try {
      ended = await waitForClose(child);
    } catch (spawnErr) {
      throw new CommandFailedError(this.command, null, null, (spawnErr as Error).message);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      killer.finish();
    }
    this.exitCode = ended.code;
    this.exitSignal = ended.signal;
    this.stdout = out.toString();
    this.stderr = err.toString();
    this.outputTruncated = out.truncated || err.truncated;
    this.durationMs = Date.now() - started;
    ctx.signal.throwIfAborted();
    if (ended.code === 0) return;
    const detail = lastLine(this.stderr);
    const listed = ended.code !== null && this.retryExitCodes.includes(ended.code);
    throw new CommandFailedError(this.command, ended.code, ended.signal, detail, {
      retryable: this.retryExitCodes.length === 0 || listed,
    });
  }
}

/** Kills a detached child's process group: SIGTERM, then SIGKILL after a grace time. */
class TreeKiller {
  private timer?: NodeJS.Timeout;
  private started = false;

  constructor(
    private readonly child: ChildProcess,
    private readonly graceMs: number,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    this.signal('SIGTERM');
    this.timer = setTimeout(() => this.signal('SIGKILL'), this.graceMs);
  }

  /** After the command ended: if it was being killed, whatever is left of its group dies now. */
  finish(): void {
    clearTimeout(this.timer);
    if (this.started) this.signal('SIGKILL');
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // ESRCH: the group is gone already.
    }
  }
}

/**
 * Resolves when the command exited and its output pipes closed; rejects when it could not be
 * started. Pipes still held open by a child it left behind are closed after a grace time.
 */
function waitForClose(
  child: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    let graceTimer: NodeJS.Timeout | undefined;
    child.once('error', (e) => {
      clearTimeout(graceTimer);
      reject(e);
    });
    child.once('exit', () => {
      graceTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, SHELL_CLOSE_GRACE_MS);
    });
    child.once('close', (code, signal) => {
      clearTimeout(graceTimer);
      resolve({ code, signal });
    });
  });
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  const line = lines[lines.length - 1] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}...` : line;
}
