/**
 * Background passes on intervals (a queue group's pruning and discovery, a runner pool's
 * heartbeat, fence and upkeep): a pass never overlaps itself, so a slow store never piles up
 * passes, and `stop()` waits for the passes under way, so nothing of them runs after their owner
 * closed.
 */
import type { Logger } from 'pino';

/** Named passes run on intervals, never two of one name at once; `stop` waits for them. */
export class BackgroundPasses {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Map<string, Promise<unknown>>();
  private stopped = false;

  /** `label` names the owner in the log line of a failed pass. */
  constructor(
    private readonly logger: Logger,
    private readonly label = 'queue group',
  ) {}

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
      .catch((err: unknown) => this.logger.warn({ err }, `${this.label} ${name} pass failed`))
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
