/**
 * A clock a test moves by hand. Queues, groups and schedulers accept a `now` function; given
 * this clock's, due times, backoffs, lock expiries and schedule ticks follow it, not real time.
 */
import { InvalidArgumentError } from '../errors';
import { checkDate, checkNumber } from '../validate';

/** A clock that stands still until moved: `now()` is `start`, then wherever it was set. */
export class TestClock {
  private ms: number;

  constructor(start: Date = new Date()) {
    this.ms = checkDate('start', start).getTime();
  }

  /** The current time; pass this function as `now` wherever a clock is accepted. */
  readonly now = (): Date => new Date(this.ms);

  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): Date {
    this.ms += checkNumber('ms', ms, 0, Number.MAX_SAFE_INTEGER);
    return this.now();
  }

  /** Sets the clock to `at`; it never moves back (an earlier time is an InvalidArgumentError). */
  set(at: Date): Date {
    const t = checkDate('at', at).getTime();
    if (t < this.ms) {
      throw new InvalidArgumentError(
        `the test clock cannot go back from ${this.now().toISOString()} to ${at.toISOString()}`,
      );
    }
    this.ms = t;
    return this.now();
  }
}
