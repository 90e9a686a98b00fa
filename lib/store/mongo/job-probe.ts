/**
 * The jobs collection module, its probe: one read for all the queues of a process, asking which
 * have due work (for the idle ones), stale locks, or pending documents no claim can see. Every
 * branch of its `$or` is a range of one index (`pending_due` for due documents, `pending_claim`
 * for undated ones, `running_lock` for stale locks), so it examines about as many keys as it returns, and an idle
 * deployment answers it without reading anything. The module is job-store.ts (the store class,
 * which calls `probeJobs`), job-claim.ts, job-store-admin.ts, job-filters.ts, job-indexes.ts and
 * this file. Nothing else in drover reads or writes job documents in MongoDB.
 */
import type { Collection, Filter } from 'mongodb';
import { isSuspect, type JobProbeParams, type JobProbeResult } from '../job-probe';
import type { JobDocument } from '../../types';
import { undatedFilter } from './job-filters';
import { DATED } from './job-indexes';

type Doc = JobDocument;

/**
 * The probe's filter: stale locks and undated documents first, then the due documents. The
 * queue list goes once outside the branches (servers carry it into each as an index bound), the
 * idle ones once more in the due branch.
 */
export function probeFilter(params: JobProbeParams): Filter<Doc> | null {
  const { dueIn, staleIn, now } = params;
  const branches: Filter<Doc>[] = [];
  if (staleIn.length > 0) {
    branches.push({ state: 'running', 'status.lockExpiresAt': { $lt: now } });
    for (const undated of undatedFilter()) branches.push({ state: 'pending', ...undated });
  }
  if (dueIn.length > 0) {
    branches.push({ queue: { $in: dueIn }, state: 'pending', dueAt: { ...DATED, $lte: now } });
  }
  if (branches.length === 0) return null;
  const all = staleIn.length > 0 ? [...new Set([...staleIn, ...dueIn])] : dueIn;
  return { queue: { $in: all }, $or: branches };
}

/** The fields the answer needs. */
export const PROBE_PROJECTION = { queue: 1, state: 1, dueAt: 1, 'status.lockLosses': 1 } as const;

/** Sorts what the probe read into its answer. */
export function probeResult(docs: Doc[]): JobProbeResult {
  const due = new Set<string>();
  const suspects = new Set<string>();
  const stale = new Set<string>();
  const malformed = new Set<string>();
  for (const d of docs) {
    if (d.state === 'running') stale.add(d.queue);
    else if (!(d.dueAt instanceof Date)) malformed.add(d.queue);
    else if (isSuspect(d)) suspects.add(d.queue);
    else due.add(d.queue);
  }
  return { due: [...due], suspects: [...suspects], stale: [...stale], malformed: [...malformed] };
}

/** JobStore.jobProbe. */
export async function probeJobs(
  jobs: Collection<Doc>,
  params: JobProbeParams,
): Promise<JobProbeResult> {
  const filter = probeFilter(params);
  if (!filter) return { due: [], suspects: [], stale: [], malformed: [] };
  const docs = await jobs
    .find(filter, { projection: PROBE_PROJECTION, limit: params.limit })
    .toArray();
  return probeResult(docs);
}
