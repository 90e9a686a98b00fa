/**
 * The process probe's part of the job store protocol (`JobStore.jobProbe`): one read for all the
 * queues of a process, asking which have due work, stale locks or pending documents no claim can
 * see (lib/runner/process-poller.ts), and what makes an attempt a suspect.
 */
import type { JobDocument } from '../types';

/** Parameters of `jobProbe`: the queues of one process, and the time. */
export interface JobProbeParams {
  /** Queues whose due pending attempts to report (the idle ones). */
  dueIn: string[];
  /** Queues whose stale locks and unclaimable pending documents to report (all of them). */
  staleIn: string[];
  now: Date;
  /** Documents read at most (the answer names queues, so a few per queue suffice). */
  limit: number;
}

/** What `jobProbe` found, by queue name. */
export interface JobProbeResult {
  /** Queues of `dueIn` with a due pending attempt that is not a suspect. */
  due: string[];
  /** Queues of `dueIn` with a due pending suspect (see `JobClaimParams.suspects`). */
  suspects: string[];
  /** Queues of `staleIn` with a running attempt whose lock expired. */
  stale: string[];
  /** Queues of `staleIn` with a pending document whose `dueAt` is not a date (no claim sees it). */
  malformed: string[];
}

/** Documents `jobProbe` reads at most, by default. */
export const PROBE_LIMIT_DEFAULT = 512;

/** Whether an attempt lost its lock before (see `JobClaimParams.suspects`). */
export function isSuspect(doc: Pick<JobDocument, 'status'>): boolean {
  const losses = (doc.status as Partial<JobDocument['status']> | null)?.lockLosses;
  return typeof losses === 'number' && losses > 0;
}
