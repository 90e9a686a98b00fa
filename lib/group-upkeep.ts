/**
 * Bookkeeping behind a queue group's pruning and discovery: when each queue held here was last
 * active, and the background passes that run on an interval.
 */
import type { Logger } from 'pino';

/** Last local activity of each queue; writes `lastActive` of its record at most every `touchEveryMs`. */
export class QueueActivity {
  private readonly activeAt = new Map<string, number>();
  private readonly touchedAt = new Map<string, number>();

  constructor(
    private readonly now: () => Date,
    private readonly touchEveryMs: number,
    /** Writes `lastActive`; called without waiting, so it must handle its own failure. */
    private readonly touch: (name: string, now: Date) => void,
  ) {}

  /** A queue was just opened (its record's `lastActive` is fresh). */
  opened(name: string): void {
    const now = this.now().getTime();
    this.touchedAt.set(name, now);
    this.activeAt.set(name, now);
  }

  /** Notes activity now. */
  mark(name: string): void {
    const now = this.now().getTime();
    this.activeAt.set(name, now);
    if (now - (this.touchedAt.get(name) ?? 0) < this.touchEveryMs) return;
    this.touchedAt.set(name, now);
    this.touch(name, new Date(now));
  }

  /** Whether the queue has seen no activity for `idleMs`. */
  idleFor(name: string, idleMs: number): boolean {
    return this.now().getTime() - (this.activeAt.get(name) ?? 0) >= idleMs;
  }

  forget(name: string): void {
    this.activeAt.delete(name);
    this.touchedAt.delete(name);
  }

  clear(): void {
    this.activeAt.clear();
    this.touchedAt.clear();
  }
}

/** Named passes run on intervals, never two of one name at once; `stop` waits for them. */
export class BackgroundPasses {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<unknown>>();
  private stopped = false;

  constructor(private readonly logger: Logger) {}

  /**
   * Runs `pass` every `everyMs` (and once at once if `immediate`). An unref'd timer does not keep
   * the process alive.
   */
  every(
    name: string,
    everyMs: number,
    pass: () => Promise<unknown>,
    options: { unref?: boolean; immediate?: boolean } = {},
  ): void {
    const timer = setInterval(() => this.run(name, pass), everyMs);
    if (options.unref) timer.unref();
    this.timers.push(timer);
    if (options.immediate) setImmediate(() => this.run(name, pass));
  }

  /** Runs a pass unless one of that name is under way; logs its failure. */
  private run(name: string, pass: () => Promise<unknown>): void {
    if (this.stopped || this.running.has(name)) return;
    const run = pass()
      .catch((err: unknown) => this.logger.warn({ err }, `queue group ${name} pass failed`))
      .finally(() => this.running.delete(name));
    this.running.set(name, run);
  }

  /** Stops the timers and waits for the passes under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.allSettled([...this.running.values()]);
  }
}
