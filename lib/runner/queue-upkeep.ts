/**
 * What a runner pool does to documents of its queue it cannot run: quarantines one that cannot
 * be loaded (the pool and caller-run attempts load every claimed document here), the pending ones no claim takes (malformed envelopes, undated), and puts back the
 * attempts whose lock went stale (their worker died). The process poller (process-poller.ts)
 * finds the queues that need the last two; none of them throws.
 */
import { ErrorCode, errorCodeOf, toError } from '../errors';
import type { PoolContext } from './attempt';
import type { BaseJob } from '../job/base-job';
import { storeRecords } from '../store/job-store';
import type { JobDocument } from '../types';

type Pool = Pick<PoolContext, 'store' | 'queue' | 'opts' | 'emit' | 'log'>;

/** The job of a claimed document; undefined when it cannot be loaded (it is quarantined). */
export function loadJob(
  pool: Pool & Pick<PoolContext, 'opts'>,
  doc: JobDocument,
): BaseJob | undefined {
  try {
    return pool.opts.registry.fromDocument(doc);
  } catch (err) {
    void quarantineDocument(pool, doc, err);
    return undefined;
  }
}

/** Marks a claimed document that could not be loaded (`err` says why). */
export async function quarantineDocument(
  pool: Pool,
  doc: JobDocument,
  err: unknown,
): Promise<void> {
  const code = errorCodeOf(err);
  const reason = toError(err).message;
  pool.log.error({ jobId: doc._id, code, reason }, 'job quarantined');
  const ok = await pool.store
    .jobQuarantine({
      id: doc._id,
      modCount: doc.status.modCount,
      code,
      reason,
      now: pool.opts.now(),
    })
    .catch(() => false);
  if (ok)
    pool.emit('quarantined', { queue: pool.queue, id: doc._id, jobId: doc._id, code, reason });
}

/** Quarantines the queue's pending documents no claim takes. */
export async function quarantineMalformed(pool: Pool): Promise<void> {
  try {
    const bad = await pool.store.jobQuarantineMalformed({
      queue: pool.queue,
      now: pool.opts.now(),
    });
    for (const jobId of bad) {
      const reason = storeRecords.malformedReason;
      pool.log.error({ jobId, reason }, 'malformed document quarantined');
      pool.emit('quarantined', {
        queue: pool.queue,
        id: jobId,
        jobId,
        code: ErrorCode.MalformedJob,
        reason,
      });
    }
  } catch (err) {
    pool.emit('error', toError(err));
  }
}

/**
 * Puts the queue's attempts whose lock went stale back for any worker. They come back as
 * suspects (see `JobClaimParams.suspects`).
 */
export async function reclaimStale(pool: Pool): Promise<void> {
  try {
    const n = await pool.store.jobReclaimStale({
      queue: pool.queue,
      now: pool.opts.now(),
      maxLockLosses: pool.opts.maxLockLosses,
    });
    if (n > 0) pool.log.info({ reclaimed: n }, 'stale locks reclaimed');
  } catch (err) {
    pool.emit('error', toError(err));
  }
}
