/**
 * Bookkeeping behind a queue group's pruning and discovery: when each queue held here was last
 * active. (The background passes that run on an interval are in background-passes.ts, which
 * runner pools use too; re-exported here for the group.)
 */
export { BackgroundPasses } from './background-passes';

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
