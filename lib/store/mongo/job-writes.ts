/**
 * The jobs collection module, its batched guarded writes (`jobWriteMany`): writes that set the same
 * plain values for one owner go as one statement, each document still matched by its own token.
 * The module is job-store.ts (the store class), job-claim.ts, job-probe.ts, job-store-admin.ts,
 * job-filters.ts, job-indexes.ts and this file. Nothing else in drover reads or writes job
 * documents in MongoDB.
 */
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { JobWriteParams } from '../job-store';
import type { JobDocument } from '../../types';
import { retryWriteConflicts } from './errors';
import { heldFilter, heldGroupFilter, nonce, updateFields } from './job-filters';

type Doc = JobDocument;

/** Applies several guarded writes in one round trip; returns the IDs whose write matched. */
export async function writeMany(
  jobs: Collection<Doc>,
  writes: JobWriteParams[],
): Promise<Set<string>> {
  // The driver refuses an empty bulk write; no writes took effect.
  if (writes.length === 0) return new Set();
  // Each operation carries a nonce: when not all matched, the nonces tell which took effect.
  const groups = writeGroups(writes);
  const ops: AnyBulkWriteOperation<Doc>[] = groups.map((g) => {
    const first = g.writes[0];
    const update = {
      $set: { ...updateFields(first.update, first.now), 'status.writeId': g.writeId },
      $inc: { 'status.modCount': 1 },
    };
    if (g.writes.length === 1) {
      return { updateOne: { filter: heldFilter(first.token, first.update), update } };
    }
    // One statement for the group: each document still matches only with its own token.
    const filter = heldGroupFilter(
      g.writes.map((w) => w.token),
      first.update,
    );
    return { updateMany: { filter, update } };
  });
  // Run again on a write conflict (a deadlock on DocumentDB): a write that took effect the first
  // time no longer matches its token, and its nonce still says it took effect.
  const res = await retryWriteConflicts(() => jobs.bulkWrite(ops, { ordered: false }));
  if (res.matchedCount === writes.length) return new Set(writes.map((w) => w.token.id));
  const docs = await jobs
    .find({ _id: { $in: writes.map((w) => w.token.id) } }, { projection: { 'status.writeId': 1 } })
    .toArray();
  const byId = new Map(docs.map((d) => [d._id, d]));
  return new Set(
    groups.flatMap((g) =>
      g.writes
        .filter((w) => byId.get(w.token.id)?.status.writeId === g.writeId)
        .map((w) => w.token.id),
    ),
  );
}

/** Writes of one `jobWriteMany` that one statement applies, and its nonce. */
interface WriteGroup {
  writes: JobWriteParams[];
  writeId: string;
}

/** The fields of a guarded write that are plain values: writes setting only these may group. */
const PLAIN_FIELDS = new Set<string>([
  'state',
  'progress',
  'start',
  'end',
  'completed',
  'inProgress',
  'needsRetry',
  'releaseLock',
  'dueAt',
  'lockExpiresAt',
  'retryEnd',
]);

/**
 * Groups writes that set the same plain values at the same time for the same owner (a burst of
 * completions of no-op jobs): each group is one statement, its per-job part only the token (a
 * completion costs ~50 bytes on the wire instead of ~370). A write with a payload, errors, a log
 * or a result is a group of its own: such values are never compared.
 */
function writeGroups(writes: JobWriteParams[]): WriteGroup[] {
  const groups = new Map<string, WriteGroup>();
  const alone: WriteGroup[] = [];
  for (const w of writes) {
    const entries = Object.entries(w.update).filter(([, v]) => v !== undefined);
    if (!entries.every(([k]) => PLAIN_FIELDS.has(k))) {
      alone.push({ writes: [w], writeId: nonce() });
      continue;
    }
    const values = entries
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v instanceof Date ? `d${v.getTime()}` : `${typeof v}${String(v)}`}`);
    const key = `${w.token.owner}\u0000${w.now.getTime()}\u0000${values.join('\u0000')}`;
    const group = groups.get(key);
    if (group) group.writes.push(w);
    else groups.set(key, { writes: [w], writeId: nonce() });
  }
  return [...groups.values(), ...alone];
}
