/**
 * In-memory implementation of the request storage protocol (see lib/store/request-store.ts), with the
 * same conditional-write semantics as the MongoDB store. Documents are cloned in and out.
 */
import { InvalidArgumentError } from '../../errors';
import {
  TIME_RANGE_FINISHED,
  type RequestListParams,
  type RequestStore,
  type RequestTransitionParams,
  type TimeRangeRequestDocument,
} from '../request-store';

type Doc = TimeRangeRequestDocument;

/** Requests in a Map. */
export class MemoryRequestStore implements RequestStore {
  private readonly docs = new Map<string, Doc>();

  async init(): Promise<void> {}

  async requestInsert(doc: Doc): Promise<void> {
    if (this.docs.has(doc._id)) {
      throw new InvalidArgumentError(`time-range request ${doc._id} already exists`);
    }
    this.docs.set(doc._id, structuredClone(doc));
  }

  async requestGet(id: string): Promise<Doc | null> {
    const d = this.docs.get(id);
    return d ? structuredClone(d) : null;
  }

  async requestTransition(params: RequestTransitionParams): Promise<Doc | null> {
    const d = this.docs.get(params.id);
    if (!d || !params.from.includes(d.state)) return null;
    if (params.modCount !== undefined && d.modCount !== params.modCount) return null;
    for (const [key, value] of Object.entries(params.update)) {
      if (value !== undefined)
        (d as unknown as Record<string, unknown>)[key] = structuredClone(value);
    }
    d.modTime = params.now;
    d.modCount += 1;
    return structuredClone(d);
  }

  async requestList(params: RequestListParams): Promise<Doc[]> {
    const out = [...this.docs.values()]
      .filter(
        (d) =>
          (!params.unsettled || !d.settled) &&
          (params.queue === undefined || d.queue === params.queue) &&
          (params.states === undefined || params.states.includes(d.state)) &&
          (params.afterId === undefined || d._id > params.afterId),
      )
      .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
      .slice(0, params.limit);
    return structuredClone(out);
  }

  async requestPrune(params: { finishedBefore: Date; limit: number }): Promise<number> {
    let n = 0;
    for (const d of [...this.docs.values()]) {
      if (n >= params.limit) break;
      if (!TIME_RANGE_FINISHED.includes(d.state) || !d.settled) continue;
      if (!d.finished || d.finished >= params.finishedBefore) continue;
      this.docs.delete(d._id);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {}
}
