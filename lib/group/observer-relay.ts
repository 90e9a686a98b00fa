/**
 * Observers of a queue group: extensions attached after its queues were built (metrics,
 * lib/ops/metrics.ts). A queue's extension list is fixed when it is created, so the group gives every
 * queue one relay that forwards to whatever observers are attached at the time.
 */
import type { AttemptContext, QueueExtension, StartVerdict } from '../extension';
import type { JobState } from '../types';

/**
 * Forwards `beforeStart` (verdict ignored: observers only observe), `afterFinish` and
 * `outcomeDropped` to `observers`. Put it last in a queue's list, so `beforeStart` sees only the
 * attempts that run.
 */
export class ObserverRelay implements QueueExtension {
  readonly name = 'observers';
  /** The attached observers; add and delete at any time. */
  readonly observers = new Set<QueueExtension>();

  async beforeStart(ctx: AttemptContext): Promise<StartVerdict> {
    for (const o of this.observers) await o.beforeStart?.(ctx);
    return { action: 'run' };
  }

  async afterFinish(ctx: AttemptContext, state: JobState): Promise<void> {
    for (const o of this.observers) await o.afterFinish?.(ctx, state);
  }

  async outcomeDropped(ctx: AttemptContext): Promise<void> {
    for (const o of this.observers) await o.outcomeDropped?.(ctx);
  }
}
