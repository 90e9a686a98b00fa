/**
 * Every filter and update of the rate-limit collection (see lib/store/rate-store.ts). Documents are
 * found by `_id` only; no other index.
 */
import type { Collection, Db } from 'mongodb';
import type { RateStore, RateTakeParams, RateWindowDocument } from '../rate-store';
import { isDuplicateKey } from './errors';

/** Conditional writes lost to other processes before `rateTake` gives up (and grants 0). */
const TAKE_TRIES = 8;

/** MongoDB implementation of the rate-window storage protocol. */
export class MongoRateStore implements RateStore {
  readonly rates: Collection<RateWindowDocument>;

  constructor(db: Db, collectionName = 'drover_rates') {
    this.rates = db.collection<RateWindowDocument>(collectionName);
  }

  async init(): Promise<void> {
    // Every operation goes by `_id`.
  }

  async rateTake(params: RateTakeParams): Promise<number> {
    const { id, windowStart, max, want } = params;
    for (let i = 0; i < TAKE_TRIES; i++) {
      // Room for all of `want` in the current window: one round trip.
      const fast = await this.rates.updateOne(
        { _id: id, windowStart, count: { $lte: max - want } },
        { $inc: { count: want } },
      );
      if (fast.modifiedCount === 1) return want;
      const doc = await this.rates.findOne({ _id: id });
      const take = (count: number) => Math.max(0, Math.min(want, max - count));
      if (!doc) {
        try {
          await this.rates.insertOne({ _id: id, windowStart, count: take(0) });
          return take(0);
        } catch (err) {
          if (isDuplicateKey(err)) continue;
          throw err;
        }
      }
      const stored = doc.windowStart.getTime();
      if (stored > windowStart.getTime()) return 0;
      // Every write below is conditioned on what was read: a loser reads again.
      const seen = { _id: id, windowStart: doc.windowStart, count: doc.count };
      if (stored < windowStart.getTime()) {
        const res = await this.rates.updateOne(seen, { $set: { windowStart, count: take(0) } });
        if (res.modifiedCount === 1) return take(0);
        continue;
      }
      const k = take(doc.count);
      if (k === 0) return 0;
      const res = await this.rates.updateOne(seen, { $inc: { count: k } });
      if (res.modifiedCount === 1) return k;
    }
    return 0;
  }

  async rateGiveBack(params: { id: string; windowStart: Date; n: number }): Promise<void> {
    if (params.n <= 0) return;
    await this.rates.updateOne(
      { _id: params.id, windowStart: params.windowStart, count: { $gte: params.n } },
      { $inc: { count: -params.n } },
    );
  }

  async rateGet(id: string): Promise<RateWindowDocument | null> {
    return this.rates.findOne({ _id: id });
  }

  async close(): Promise<void> {
    // The client belongs to whoever connected it.
  }
}
