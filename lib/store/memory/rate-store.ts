/**
 * In-memory twin of the rate-window store (lib/store/mongo/rate-store.ts), with the same semantics.
 */
import type { RateStore, RateTakeParams, RateWindowDocument } from '../rate-store';

/** Rate windows in a Map. */
export class MemoryRateStore implements RateStore {
  private readonly windows = new Map<string, RateWindowDocument>();

  async init(): Promise<void> {}

  async rateTake(params: RateTakeParams): Promise<number> {
    const { id, windowStart, max, want } = params;
    let doc = this.windows.get(id);
    if (doc && doc.windowStart.getTime() > windowStart.getTime()) return 0;
    if (!doc || doc.windowStart.getTime() < windowStart.getTime()) {
      doc = { _id: id, windowStart, count: 0 };
      this.windows.set(id, doc);
    }
    const k = Math.max(0, Math.min(want, max - doc.count));
    doc.count += k;
    return k;
  }

  async rateGiveBack(params: { id: string; windowStart: Date; n: number }): Promise<void> {
    const doc = this.windows.get(params.id);
    if (!doc || doc.windowStart.getTime() !== params.windowStart.getTime()) return;
    if (params.n > 0 && doc.count >= params.n) doc.count -= params.n;
  }

  async rateGet(id: string): Promise<RateWindowDocument | null> {
    const doc = this.windows.get(id);
    return doc ? { ...doc } : null;
  }

  async close(): Promise<void> {}
}
