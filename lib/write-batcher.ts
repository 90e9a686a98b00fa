/**
 * Coalesces guarded writes issued in the same turn of the event loop into one round trip.
 * When many jobs finish together, their completions cost one `bulkWrite` instead of one each.
 */
import type { JobStore, JobWriteParams } from './store';

interface Pending {
  write: JobWriteParams;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

/** Batches `jobWrite` calls per event-loop turn. */
export class WriteBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(private readonly store: JobStore) {}

  /** Resolves true when the write took effect, false when the lock was lost. */
  write(write: JobWriteParams): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    try {
      if (batch.length === 1) {
        batch[0].resolve((await this.store.jobWrite(batch[0].write)) !== null);
        return;
      }
      const ok = await this.store.jobWriteMany(batch.map((p) => p.write));
      for (const p of batch) p.resolve(ok.has(p.write.token.id));
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}
