/**
 * Storage of rate-limit windows: one document per limited queue holding the current fixed
 * window's start and how many claims it has granted. A window is taken from and given back to
 * only by conditional writes on (window start, count), so processes sharing a queue never grant
 * more than the limit between them (no transaction). `MongoRateStore` (lib/store/mongo/rate-store.ts)
 * keeps every filter of the collection; `MemoryRateStore` (lib/store/memory/rate-store.ts) has the same
 * semantics in memory.
 */

/** The stored window of one limiter. */
export interface RateWindowDocument {
  /** The limiter: the queue name. */
  _id: string;
  /** Start of the current window (a multiple of the limit's period since the epoch). */
  windowStart: Date;
  /** Claims granted in that window. */
  count: number;
}

/** Parameters of `rateTake`. */
export interface RateTakeParams {
  id: string;
  windowStart: Date;
  /** The limit of a window. */
  max: number;
  /** Claims wanted. */
  want: number;
}

/** Storage of rate-limit windows. */
export interface RateStore {
  /** Create indexes; idempotent. */
  init(): Promise<void>;
  /**
   * Takes up to `want` of the `max` claims of window `windowStart` (starting that window when
   * the stored one is older). Returns how many it took: 0 when the window is spent, or when
   * another process already counts in a later window (its clock is ahead: wait for ours).
   */
  rateTake(params: RateTakeParams): Promise<number>;
  /** Gives `n` claims taken but not used back to window `windowStart`, if it is still current. */
  rateGiveBack(params: { id: string; windowStart: Date; n: number }): Promise<void>;
  /** The stored window of a limiter, or null. */
  rateGet(id: string): Promise<RateWindowDocument | null>;
  close(): Promise<void>;
}
