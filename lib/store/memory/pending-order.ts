/**
 * The in-memory store's claim index: per queue, the documents that may be pending, in claim order
 * (priority descending, then due time, then ID), so a claim reads the first few instead of
 * filtering and sorting every stored document (issue 13: 88 µs per job at 6,000 stored jobs, half
 * of it in that scan).
 *
 * Entries are added whenever a document becomes pending (or may have: an insert, a raw replace,
 * an update) with the sort key it had then, and dropped lazily: a walk drops an entry whose
 * document is gone, no longer pending, or keyed differently now (an update re-added it under its
 * new key). So the entries are a superset of the pending documents, each present under its
 * current key at least once.
 */
import { compareStrings } from '../job-store';
import type { JobDocument } from '../../types';

interface Entry {
  id: string;
  priority: number;
  due: number;
}

/** Claim order of two entries (as the MongoDB claim's sort: priority desc, dueAt, _id). */
function before(a: Entry, b: Entry): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.due !== b.due) return a.due < b.due;
  return compareStrings(a.id, b.id) < 0;
}

/** Whether an entry still describes its document: pending, with the same key. */
function current(e: Entry, d: JobDocument | undefined): d is JobDocument {
  return (
    d !== undefined &&
    d.state === 'pending' &&
    d.priority === e.priority &&
    d.dueAt instanceof Date &&
    d.dueAt.getTime() === e.due
  );
}

/** One queue's entries in claim order. */
class QueueOrder {
  private entries: Entry[] = [];

  add(e: Entry): void {
    const list = this.entries;
    // New jobs mostly sort last (same priority, later due time): check the end first.
    if (list.length === 0 || before(list[list.length - 1], e)) {
      list.push(e);
      return;
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(list[mid], e)) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, e);
  }

  /**
   * Visits the current pending documents in claim order until `visit` returns false; drops the
   * stale entries it passes.
   */
  walk(docs: ReadonlyMap<string, JobDocument>, visit: (d: JobDocument) => boolean): void {
    const list = this.entries;
    let stale = 0;
    let prefix = 0;
    let i = 0;
    for (; i < list.length; i++) {
      const e = list[i];
      const d = docs.get(e.id);
      if (!current(e, d)) {
        if (stale === i) prefix++;
        stale++;
        list[i] = STALE;
        continue;
      }
      if (!visit(d)) break;
    }
    if (stale === 0) return;
    // Claimed jobs lead the order: usually the stale entries are a prefix.
    if (stale === prefix) list.splice(0, prefix);
    else this.entries = list.filter((e) => e !== STALE);
  }
}

const STALE: Entry = { id: '', priority: 0, due: 0 };

/** Per queue, the documents that may be pending, in claim order. */
export class PendingOrder {
  private readonly queues = new Map<string, QueueOrder>();

  /** Records a document that may now be pending (nothing when it is not, or has no due time). */
  note(d: JobDocument): void {
    if (d.state !== 'pending' || !(d.dueAt instanceof Date)) return;
    let order = this.queues.get(d.queue);
    if (!order) this.queues.set(d.queue, (order = new QueueOrder()));
    order.add({ id: d._id, priority: d.priority, due: d.dueAt.getTime() });
  }

  /** See `QueueOrder.walk`. */
  walk(
    queue: string,
    docs: ReadonlyMap<string, JobDocument>,
    visit: (d: JobDocument) => boolean,
  ): void {
    this.queues.get(queue)?.walk(docs, visit);
  }
}
