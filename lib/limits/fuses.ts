/**
 * Fuses: a paused queue claims nothing, a paused job type is not claimed; the jobs stay pending
 * in the store, counted by `stats()`, and run once the fuse is reset. The fuse state lives in the
 * queue record (lib/store/queue-store.ts) so every process obeys it; this extension keeps a cached copy
 * per queue, refreshed by its upkeep pass (one read for all of a process's queues, run in turn
 * with the other upkeep every `reclaimEveryMs`, so a pause set elsewhere holds here within a few
 * of them) and at once in the process that changed it (through `pause` and the like).
 */
import { StoreError } from '../errors';
import type { QueueExtension } from '../extension';
import type { QueueFuseState, QueueRecord, QueueStore } from '../store/queue-store';
import { checkQueueName, checkTypeName } from '../validate';

/** The part of a queue record a runner pool needs before each claim. */
interface FuseState {
  paused: boolean;
  pausedTypes: string[];
  modCount: number;
}

/** The fuse extension shared by the queues of one group. */
export class QueueFuses implements QueueExtension {
  readonly name = 'fuses';
  private readonly cache = new Map<string, FuseState>();

  constructor(
    private readonly store: QueueStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Pauses a queue in every process; creates its record if missing. */
  async pause(queue: string): Promise<QueueRecord> {
    return created(
      queue,
      await this.set(queue, (now) => this.store.queuePause({ name: queue, paused: true, now })),
    );
  }

  /** Resumes a paused queue; undefined when it has no record. */
  async resume(queue: string): Promise<QueueRecord | undefined> {
    return this.set(queue, (now) => this.store.queuePause({ name: queue, paused: false, now }));
  }

  /** Stops claims of one job type in a queue, in every process; creates the record if missing. */
  async pauseType(queue: string, type: string): Promise<QueueRecord> {
    checkTypeName(type);
    return created(
      queue,
      await this.set(queue, (now) =>
        this.store.queuePauseType({ name: queue, type, paused: true, now }),
      ),
    );
  }

  /** Resumes claims of a paused job type; undefined when the queue has no record. */
  async resumeType(queue: string, type: string): Promise<QueueRecord | undefined> {
    checkTypeName(type);
    return this.set(queue, (now) =>
      this.store.queuePauseType({ name: queue, type, paused: false, now }),
    );
  }

  /** Writes a fuse and applies it in this process at once. */
  private async set(
    queue: string,
    write: (now: Date) => Promise<QueueRecord | null>,
  ): Promise<QueueRecord | undefined> {
    checkQueueName(queue);
    const record = await write(this.now());
    if (record) this.apply(queue, record);
    return record ?? undefined;
  }

  /** False while the queue is paused (as last seen). */
  claimAllowed(queue: string): boolean {
    return !this.cache.get(queue)?.paused;
  }

  /** Job types paused in the queue (as last seen). */
  excludedTypes(queue: string): string[] {
    return this.cache.get(queue)?.pausedTypes ?? [];
  }

  /** Reloads the queue's record. */
  async maintain(queue: string): Promise<void> {
    this.apply(queue, await this.store.queueGet(queue));
  }

  /** Reloads the fuse state of every queue, in one read. */
  async maintainQueues(queues: readonly string[]): Promise<void> {
    const states = new Map((await this.store.queueFuses(queues)).map((f) => [f.name, f]));
    for (const queue of queues) this.apply(queue, states.get(queue) ?? null);
  }

  /**
   * Takes a copy of the record, unless the cache already holds a newer one (a refresh read
   * before a local pause may land after it). A missing record means no fuse is set.
   */
  apply(queue: string, record: QueueFuseState | null): void {
    const cached = this.cache.get(queue);
    if (!record) {
      this.cache.delete(queue);
      return;
    }
    if (cached && cached.modCount > record.modCount) return;
    this.cache.set(queue, {
      paused: record.paused,
      pausedTypes: [...record.pausedTypes],
      modCount: record.modCount,
    });
  }

  /** Drops the cached state of a queue this process no longer holds. */
  forget(queue: string): void {
    this.cache.delete(queue);
  }
}

/** A pause creates the record, so its absence is a store failure. */
function created(queue: string, record: QueueRecord | undefined): QueueRecord {
  if (!record) throw new StoreError(`queue ${queue}: the pause wrote no record`);
  return record;
}
