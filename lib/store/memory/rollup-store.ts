/**
 * In-memory twin of the rollup store (lib/store/mongo/rollup-store.ts), with the same semantics.
 * Memory has no TTL monitor: expired documents stay until `rollupPrune`.
 */
import {
  addRollup,
  bucketStart,
  emptyRollup,
  rollupId,
  type RollupAddParams,
  type RollupDocument,
  type RollupStore,
  type RollupSum,
  type RollupSumsParams,
} from '../rollup-store';
import { compareStrings } from '../job-store';

/** Rollup documents in a Map. */
export class MemoryRollupStore implements RollupStore {
  private readonly docs = new Map<string, RollupDocument>();

  async init(): Promise<void> {}

  rollupTtlIndexed(): boolean {
    return false;
  }

  async rollupAdd(params: RollupAddParams): Promise<void> {
    for (const d of params.deltas) {
      const id = rollupId(d.queue, d.type, d.minute);
      const expiresAt = new Date(d.minute.getTime() + params.retentionMs);
      let doc = this.docs.get(id);
      if (!doc) {
        const fresh: RollupDocument = {
          _id: id,
          queue: d.queue,
          type: d.type,
          minute: new Date(d.minute),
          expiresAt,
          ...emptyRollup(),
        };
        this.docs.set(id, fresh);
        doc = fresh;
      }
      addRollup(doc, d);
      if (expiresAt > doc.expiresAt) doc.expiresAt = expiresAt;
    }
  }

  async rollupSums(params: RollupSumsParams): Promise<RollupSum[]> {
    const sums = new Map<string, RollupSum>();
    for (const d of this.docs.values()) {
      const t = d.minute.getTime();
      if (t < params.from.getTime() || t >= params.to.getTime()) continue;
      if (params.queue !== undefined && d.queue !== params.queue) continue;
      if (params.type !== undefined && d.type !== params.type) continue;
      const at = params.bucketMs > 0 ? new Date(bucketStart(t, params.bucketMs)) : null;
      const key = JSON.stringify([at?.getTime() ?? null, d.queue, d.type]);
      let sum = sums.get(key);
      if (!sum) {
        sum = { queue: d.queue, type: d.type, at, minutes: 0, ...emptyRollup() };
        sums.set(key, sum);
      }
      sum.minutes++;
      addRollup(sum, d);
    }
    return [...sums.values()].sort(
      (a, b) =>
        (a.at?.getTime() ?? 0) - (b.at?.getTime() ?? 0) ||
        compareStrings(a.queue, b.queue) ||
        compareStrings(a.type, b.type),
    );
  }

  async rollupPrune(params: { before: Date; limit: number }): Promise<number> {
    let n = 0;
    for (const [id, d] of this.docs) {
      if (n >= params.limit) break;
      if (d.expiresAt.getTime() < params.before.getTime() && this.docs.delete(id)) n++;
    }
    return n;
  }

  async close(): Promise<void> {}
}
