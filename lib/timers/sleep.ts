/** Longest delay a Node timer holds (a longer one would fire at once). */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * An interruptible sleep: loops wait on it and `wake()` ends every current wait at once. Pools
 * wake on every finished job, so a wake costs no allocation (no AbortController, no
 * DOMException): sleepers are plain timers in a set.
 */
export class Wakeable {
  private readonly sleepers = new Set<() => void>();
  /** A wake that came while nobody slept is kept for the next sleep, so none is lost. */
  private woken = false;

  /** Waits `ms` (at most {@link TIMER_MAX_MS}) or until `wake()`; never rejects. */
  async sleep(ms: number): Promise<void> {
    if (!this.woken) {
      await new Promise<void>((resolve) => {
        const end = (): void => {
          clearTimeout(timer);
          this.sleepers.delete(end);
          resolve();
        };
        const timer = setTimeout(end, Math.min(Math.max(0, ms), TIMER_MAX_MS));
        this.sleepers.add(end);
      });
    }
    this.woken = false;
  }

  /** Ends every current sleep (or the next one, if none is under way). */
  wake(): void {
    this.woken = true;
    for (const end of [...this.sleepers]) end();
  }
}

/** Capped exponential backoff with jitter: `base * 2^attempt`, capped, times a factor in [0.5, 1]. */
export function backoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(1, Math.round(exp * (0.5 + random() / 2)));
}

/** True when `p` settles within `ms` (its outcome is not awaited further). */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
