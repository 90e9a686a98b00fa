/** An interruptible sleep: loops wait on it and `wake()` ends every current wait at once. */
import { setTimeout as delay } from 'node:timers/promises';

export class Wakeable {
  private controller = new AbortController();
  /** A wake that came while nobody slept is kept for the next sleep, so none is lost. */
  private woken = false;

  /** Waits `ms` or until `wake()`; never rejects. */
  async sleep(ms: number): Promise<void> {
    if (!this.woken) {
      await delay(ms, undefined, { signal: this.controller.signal }).catch(() => undefined);
    }
    this.woken = false;
  }

  /** Ends every current sleep (or the next one, if none is under way). */
  wake(): void {
    this.woken = true;
    this.controller.abort();
    this.controller = new AbortController();
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
