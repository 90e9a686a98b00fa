/**
 * In-memory schedule table with the same semantics as the MongoDB one (see lib/store/schedule-store.ts).
 * Entries are cloned in and out so callers never share state with the store.
 */
import type { SessionOptions } from '../job-store';
import type { ScheduleDocument, ScheduleStore } from '../schedule-store';
import { refuseSession, sessionRefusal } from './sessions';

type Doc = ScheduleDocument;

/** Schedule entries in a Map. */
export class MemoryScheduleStore implements ScheduleStore {
  private readonly docs = new Map<string, Doc>();

  async init(): Promise<void> {}

  async sessionCheck(_session: unknown): Promise<void> {
    throw sessionRefusal();
  }

  async scheduleGet(key: string, options?: SessionOptions): Promise<Doc | null> {
    refuseSession(options);
    const doc = this.docs.get(key);
    return doc ? structuredClone(doc) : null;
  }

  async scheduleList(params: { afterKey?: string; limit: number }): Promise<Doc[]> {
    const after = params.afterKey;
    return [...this.docs.values()]
      .filter((d) => after === undefined || d._id > after)
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .slice(0, params.limit)
      .map((d) => structuredClone(d));
  }

  async scheduleDue(params: { now: Date; limit: number }): Promise<Doc[]> {
    const now = params.now.getTime();
    return [...this.docs.values()]
      .filter((d) => d.enabled && d.nextTickAt !== null && d.nextTickAt.getTime() <= now)
      .sort((a, b) => {
        const t = (a.nextTickAt?.getTime() ?? 0) - (b.nextTickAt?.getTime() ?? 0);
        if (t !== 0) return t;
        return a._id < b._id ? -1 : a._id > b._id ? 1 : 0;
      })
      .slice(0, params.limit)
      .map((d) => structuredClone(d));
  }

  async scheduleInsert(doc: Doc, options?: SessionOptions): Promise<boolean> {
    refuseSession(options);
    if (this.docs.has(doc._id)) return false;
    this.docs.set(doc._id, structuredClone(doc));
    return true;
  }

  async scheduleRedefine(
    params: Parameters<ScheduleStore['scheduleRedefine']>[0],
    options?: SessionOptions,
  ): Promise<boolean> {
    refuseSession(options);
    const doc = this.docs.get(params.key);
    if (!doc || doc.revision !== params.revision) return false;
    Object.assign(doc, structuredClone(params.definition), {
      updatedAt: params.now,
      nextTickAt: params.nextTickAt,
      revision: doc.revision + 1,
    });
    return true;
  }

  async scheduleAdvance(params: Parameters<ScheduleStore['scheduleAdvance']>[0]): Promise<boolean> {
    const doc = this.docs.get(params.key);
    if (!doc || doc.revision !== params.revision) return false;
    if (doc.lastTick !== null && doc.lastTick.getTime() >= params.tick.getTime()) return false;
    doc.lastTick = params.tick;
    doc.nextTickAt = params.nextTickAt;
    return true;
  }

  async scheduleRemove(key: string, options?: SessionOptions): Promise<boolean> {
    refuseSession(options);
    return this.docs.delete(key);
  }
}
