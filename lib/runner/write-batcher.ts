/**
 * Coalesces guarded writes into few round trips ("group commit"): writes issued while a batch is
 * in flight wait and go out together as soon as it returns. When many jobs finish together their
 * completions cost one `bulkWrite`, and under load the batches grow by themselves.
 */
import type { JobStore, JobWriteParams } from '../store/job-store';

interface Pending {
  write: JobWriteParams;
  resolve: (ok: boolean) => void;
  reject: (err: unknown) => void;
}

/** Batches `jobWrite` calls. */
export class WriteBatcher {
  private pending: Pending[] = [];
  private scheduled = false;
  private inFlight = false;

  constructor(private readonly store: JobStore) {}

  /** Resolves true when the write took effect, false when the lock was lost. */
  write(write: JobWriteParams): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ write, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.inFlight || this.scheduled || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.inFlight = true;
    try {
      if (batch.length === 1) {
        batch[0].resolve((await this.store.jobWrite(batch[0].write)) !== null);
      } else {
        const ok = await this.store.jobWriteMany(batch.map((p) => p.write));
        for (const p of batch) p.resolve(ok.has(p.write.token.id));
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inFlight = false;
      this.kick();
    }
  }
}
