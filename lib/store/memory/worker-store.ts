/**
 * In-memory twin of the worker-presence store (lib/store/mongo/worker-store.ts), with the same
 * semantics. Records are cloned in and out.
 */
import type { WorkerRecord, WorkerStore } from '../worker-store';

/** Worker records in a Map. */
export class MemoryWorkerStore implements WorkerStore {
  private readonly records = new Map<string, WorkerRecord>();

  async init(): Promise<void> {}

  async workerSave(record: WorkerRecord): Promise<void> {
    this.records.set(record._id, structuredClone(record));
  }

  async workerList(params: { now: Date; queue?: string }): Promise<WorkerRecord[]> {
    const { now, queue } = params;
    return [...this.records.values()]
      .filter((r) => r.expiresAt.getTime() > now.getTime())
      .filter((r) => queue === undefined || r.queues.some((q) => q.name === queue))
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .map((r) => structuredClone(r));
  }

  async workerRemove(id: string): Promise<boolean> {
    return this.records.delete(id);
  }

  async workerPrune(before: Date): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records) {
      if (r.expiresAt.getTime() < before.getTime() && this.records.delete(id)) n++;
    }
    return n;
  }

  async close(): Promise<void> {}
}
