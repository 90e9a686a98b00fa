/** Typed events of queues and groups. */
import { EventEmitter } from 'node:events';

/** Payload shared by job events. */
export interface JobEventInfo {
  queue: string;
  /** The attempt's ID (the job ID for its first attempt, `id#n` for attempt n). */
  id: string;
  /** @deprecated Use `id` (the same value); `jobId` will be removed in the next minor version. */
  jobId: string;
  type: string;
  /** 0 for the first attempt. */
  attempt: number;
}

/** Every event a queue emits, with its argument. */
export interface QueueEventMap {
  claimed: [JobEventInfo];
  progress: [JobEventInfo & { progress: number; message?: string }];
  /** `returnValue`: what `run()` returned, as stored (undefined when it returned nothing). */
  completed: [JobEventInfo & { durationMs: number; returnValue?: unknown }];
  failed: [JobEventInfo & { error: string; durationMs: number }];
  retrying: [JobEventInfo & { error: string; nextAttemptId: string; dueAt: Date }];
  aborted: [JobEventInfo & { reason: string }];
  'lock-lost': [JobEventInfo];
  expired: [JobEventInfo];
  released: [JobEventInfo];
  quarantined: [
    {
      queue: string;
      id: string;
      /** @deprecated Use `id`; `jobId` will be removed in the next minor version. */
      jobId: string;
      code: string;
      reason: string;
    },
  ];
  /** A background loop hit an error; it keeps going. */
  error: [Error];
  /** The pool was started (`Queue.start`); not emitted again while it runs. */
  started: [{ queue: string }];
  /** The pool has no running job and found nothing to claim. */
  idle: [{ queue: string }];
}

/** An EventEmitter whose `on`/`emit` are checked against an event map. */
export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> extends EventEmitter {
  override on<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
  override once<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }
  override off<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }
  override emit<K extends keyof M & string>(event: K, ...args: M[K]): boolean {
    // An 'error' with no listener would throw from a background loop; log-only is the intent.
    if (event === 'error' && this.listenerCount('error') === 0) return false;
    return super.emit(event, ...args);
  }
}
