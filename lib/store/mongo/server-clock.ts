/**
 * The database server's clock, as seen from this process (lib/timers/clock.ts says why every
 * process must use it). `hello` returns the server's `localTime`; the reply's round trip is
 * measured and its midpoint taken as the moment the server read its clock, so the error is at
 * most half the round trip. The reading is anchored to the process's monotonic clock
 * (`performance.now()`), not to its wall clock: a worker whose system clock is off by an hour, or
 * is stepped by NTP between two readings, still reads the server's time.
 *
 * The first reading takes the best of a few round trips; after that `now()` asks for a new one in
 * the background, soon at first (1 s, then 4 s, 16 s: the first round trips of a process are often
 * its slowest) and then every `syncEveryMs` (one `hello`, a cheap command answered from memory),
 * and keeps the old one when the new round trip was slower than the old reading's error plus
 * drift.
 *
 * A process clock that agrees with the reading within its error is used as it is: the server's
 * time is only imposed where the process's own is measurably off.
 *
 * MongoDB returns `localTime` as a Date, DocumentDB as an Int64 of milliseconds (a number, a
 * `Long` or a bigint depending on the driver's options). mongo-java-server knows no `hello` but
 * answers the legacy `isMaster` with a Date. A server that returns none leaves the process on its
 * own clock: `source` says which clock is in use.
 */
import { MongoServerError, type Db } from 'mongodb';
import type { Clock } from '../../timers/clock';

/** How often the server's time is read again. */
export const CLOCK_SYNC_EVERY_MS_DEFAULT = 60_000;
/** Round trips of the first reading (the fastest one counts). */
const FIRST_SAMPLES = 3;
/** The first refresh comes this soon; each next one 4 times later, up to `syncEveryMs`. */
const FIRST_REFRESH_MS = 1_000;
/** After a failed refresh, the next attempt waits this long. */
const RETRY_AFTER_MS = 5_000;
/** Assumed worst drift of the monotonic clock against the server's (100 ppm). */
const DRIFT = 1e-4;
/** The server's answer to a command it does not know. */
const COMMAND_NOT_FOUND = 59;

/** Milliseconds since the epoch from `hello.localTime`, whatever its type; undefined if absent. */
export function localTimeMs(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  const long = value as { toNumber?: () => number } | null;
  if (typeof long?.toNumber === 'function') return long.toNumber();
  return undefined;
}

/** One reading: the server's time at a point of the monotonic clock, and its error bound. */
interface Reading {
  serverMs: number;
  atPerf: number;
  errorMs: number;
}

/** The server's clock over one database connection pool. */
export class ServerClock implements Clock {
  private reading?: Reading;
  private nextSyncAt = -Infinity;
  /** Wait before the next refresh (grows to `syncEveryMs`). */
  private refreshMs = FIRST_REFRESH_MS;
  private syncing?: Promise<void>;
  /** The command that reads the server's time: `hello`, or `isMaster` where it is unknown. */
  private command: 'hello' | 'isMaster' = 'hello';
  /** 'server' once a reading with `localTime` was taken; 'local' when the server gives none. */
  source: 'unset' | 'server' | 'local' = 'unset';

  constructor(
    private readonly db: Db,
    private readonly syncEveryMs = CLOCK_SYNC_EVERY_MS_DEFAULT,
  ) {}

  /** A property, not a method: one function per clock, so that pools can tell they share it. */
  readonly now = (): Date => {
    const p = performance.now();
    if (p >= this.nextSyncAt && this.reading) void this.sync(1).catch(() => undefined);
    const local = Date.now();
    const r = this.reading;
    if (!r) return new Date(local);
    const server = r.serverMs + (p - r.atPerf);
    // A process clock that agrees with the server's within what can be measured is used as it
    // is: no noise added to a clock that is right (processes on one machine read one clock).
    // (Both clocks tick in whole ms: 2 ms more than the reading's error.)
    if (Math.abs(server - local) <= r.errorMs + 2 + (p - r.atPerf) * DRIFT) {
      return new Date(local);
    }
    return new Date(Math.round(server));
  };

  ready(): Promise<void> {
    return this.reading ? Promise.resolve() : this.sync(FIRST_SAMPLES);
  }

  /** The error bound of the current reading, in ms (Infinity before the first). */
  get errorMs(): number {
    const r = this.reading;
    return r ? r.errorMs + (performance.now() - r.atPerf) * DRIFT : Infinity;
  }

  /** Takes a new reading now (one at a time); rejects when the server cannot be reached. */
  sync(samples = 1): Promise<void> {
    this.syncing ??= this.measure(samples).finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async measure(samples: number): Promise<void> {
    // Set first, so that a failing server is not asked on every `now()`.
    this.nextSyncAt = performance.now() + RETRY_AFTER_MS;
    let best: Reading | undefined;
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      const reply = await this.ask();
      const t1 = performance.now();
      const serverMs = localTimeMs(reply.localTime);
      if (serverMs === undefined) {
        // No server time to be had: this process's clock it is (only stand-ins do this).
        this.source = 'local';
        best = { serverMs: Date.now(), atPerf: performance.now(), errorMs: 0 };
        break;
      }
      this.source = 'server';
      // `localTime` is truncated to the millisecond: its middle is half a millisecond later.
      const reading = {
        serverMs: serverMs + 0.5,
        atPerf: (t0 + t1) / 2,
        errorMs: (t1 - t0) / 2 + 0.5,
      };
      if (!best || reading.errorMs < best.errorMs) best = reading;
    }
    if (best && (!this.reading || best.errorMs <= this.errorMs)) this.reading = best;
    this.nextSyncAt = performance.now() + Math.min(this.refreshMs, this.syncEveryMs);
    this.refreshMs *= 4;
  }

  /** One `hello` (or `isMaster`, for good once a server does not know `hello`). */
  private async ask(): Promise<{ localTime?: unknown }> {
    try {
      return await this.db.command({ [this.command]: 1 });
    } catch (err) {
      if (this.command === 'isMaster' || !(err instanceof MongoServerError)) throw err;
      if (err.code !== COMMAND_NOT_FOUND) throw err;
      this.command = 'isMaster';
      return this.db.command({ isMaster: 1 });
    }
  }
}
