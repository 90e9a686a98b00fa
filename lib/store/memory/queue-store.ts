/**
 * In-memory twin of the queue-record store (lib/store/mongo/queue-store.ts), with the same semantics:
 * for tests and single-process use. Records are cloned in and out.
 */
import {
  freshQueueRecord,
  type QueueFuseState,
  type QueueOpenParams,
  type QueuePauseParams,
  type QueuePauseTypeParams,
  type QueueRecord,
  type QueueStore,
} from '../queue-store';

/** Queue records in a Map. */
export class MemoryQueueStore implements QueueStore {
  private readonly records = new Map<string, QueueRecord>();

  async init(): Promise<void> {}

  /** The record of `name`, created with defaults when missing. */
  private ensure(name: string, now: Date): QueueRecord {
    let rec = this.records.get(name);
    if (!rec) {
      rec = freshQueueRecord(name, now);
      this.records.set(name, rec);
    }
    return rec;
  }

  private changed(rec: QueueRecord, now: Date): QueueRecord {
    rec.modCount += 1;
    rec.modTime = now;
    return structuredClone(rec);
  }

  async queueOpen(params: QueueOpenParams): Promise<QueueRecord> {
    const rec = this.ensure(params.name, params.now);
    rec.lastActive = params.now;
    rec.options = structuredClone(params.options);
    return this.changed(rec, params.now);
  }

  async queueGet(name: string): Promise<QueueRecord | null> {
    const rec = this.records.get(name);
    return rec ? structuredClone(rec) : null;
  }

  async queueFuses(names: readonly string[]): Promise<QueueFuseState[]> {
    return names.flatMap((name) => {
      const rec = this.records.get(name);
      if (!rec) return [];
      const { paused, pausedTypes, modCount } = rec;
      return [{ name, paused, pausedTypes: [...pausedTypes], modCount }];
    });
  }

  async queueList(params: { after?: string; limit: number }): Promise<QueueRecord[]> {
    const after = params.after;
    return [...this.records.values()]
      .filter((r) => after === undefined || r.name > after)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, params.limit)
      .map((r) => structuredClone(r));
  }

  async queueTouch(params: { name: string; now: Date }): Promise<boolean> {
    const rec = this.records.get(params.name);
    if (!rec) return false;
    if (rec.lastActive < params.now) rec.lastActive = params.now;
    return true;
  }

  async queuePause(params: QueuePauseParams): Promise<QueueRecord | null> {
    const { name, paused, now } = params;
    if (!paused && !this.records.has(name)) return null;
    const rec = this.ensure(name, now);
    rec.paused = paused;
    rec.pausedAt = paused ? now : null;
    return this.changed(rec, now);
  }

  async queuePauseType(params: QueuePauseTypeParams): Promise<QueueRecord | null> {
    const { name, type, paused, now } = params;
    if (!paused && !this.records.has(name)) return null;
    const rec = this.ensure(name, now);
    rec.pausedTypes = paused
      ? rec.pausedTypes.includes(type)
        ? rec.pausedTypes
        : [...rec.pausedTypes, type]
      : rec.pausedTypes.filter((t) => t !== type);
    return this.changed(rec, now);
  }

  async close(): Promise<void> {}
}
