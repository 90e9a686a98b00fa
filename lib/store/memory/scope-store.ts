/**
 * In-memory implementation of the scope-lock storage protocol, with the semantics of the MongoDB
 * store: a Map keyed by the lock `_id` stands for the unique `_id` index. Documents are
 * cloned in and out.
 */
import type { SessionOptions } from '../job-store';
import type { ScopeLockDocument, ScopeReleaseFilter, ScopeStore } from '../scope-store';
import { refuseSession } from './sessions';

type Doc = ScopeLockDocument;

function matches(doc: Doc, f: ScopeReleaseFilter): boolean {
  return (
    f.ids.includes(doc._id) &&
    (f.tokens === undefined || f.tokens.includes(doc.token)) &&
    (f.kind === undefined || f.kind === doc.kind) &&
    (f.holder === undefined || f.holder === doc.holder) &&
    (f.attemptId === undefined || f.attemptId === doc.attemptId) &&
    (f.owner === undefined || f.owner === doc.owner)
  );
}

/** Scope locks in a Map. */
export class MemoryScopeStore implements ScopeStore {
  private readonly locks = new Map<string, Doc>();

  async init(): Promise<void> {}

  async scopeInsert(locks: Doc[], options?: SessionOptions): Promise<string[]> {
    refuseSession(options);
    const held: string[] = [];
    for (const lock of locks) {
      if (this.locks.has(lock._id)) held.push(lock._id);
      else this.locks.set(lock._id, structuredClone(lock));
    }
    return held;
  }

  async scopeGet(id: string, options?: SessionOptions): Promise<Doc | null> {
    refuseSession(options);
    const doc = this.locks.get(id);
    return doc ? structuredClone(doc) : null;
  }

  async scopeGetMany(ids: string[]): Promise<Doc[]> {
    // Each held lock once, however often its ID is asked for (as a MongoDB `$in`).
    return [...new Set(ids)].flatMap((id) => {
      const doc = this.locks.get(id);
      return doc ? [structuredClone(doc)] : [];
    });
  }

  async scopeTakeOver(
    params: { lock: Doc; expectedToken: string },
    options?: SessionOptions,
  ): Promise<boolean> {
    refuseSession(options);
    const current = this.locks.get(params.lock._id);
    if (!current || current.token !== params.expectedToken) return false;
    this.locks.set(params.lock._id, structuredClone(params.lock));
    return true;
  }

  async scopeRefresh(params: { id: string; token: string; expiresAt: Date }): Promise<boolean> {
    const current = this.locks.get(params.id);
    if (!current || current.token !== params.token) return false;
    current.expiresAt = params.expiresAt;
    return true;
  }

  async scopeRelease(filters: ScopeReleaseFilter[], options?: SessionOptions): Promise<number> {
    refuseSession(options);
    let n = 0;
    for (const [id, doc] of this.locks) {
      if (filters.some((f) => matches(doc, f))) {
        this.locks.delete(id);
        n++;
      }
    }
    return n;
  }

  async scopeList(params: { queue: string; holder?: string }): Promise<Doc[]> {
    return structuredClone(
      [...this.locks.values()]
        .filter(
          (d) =>
            d.queue === params.queue && (params.holder === undefined || d.holder === params.holder),
        )
        .sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0)),
    );
  }

  async close(): Promise<void> {}
}
