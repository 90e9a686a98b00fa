/**
 * A queue group's presence record (lib/group/worker-presence.ts): what it says is read from the group's
 * hooks and started queues, and it is rewritten as soon as they change rather than a pass later.
 * Kept apart from worker-presence.ts, which is public API and knows nothing of queues.
 */
import type { RunHooks } from '../hooks/run-hooks';
import type { Queue } from '../queue/queue';
import type { PresenceSnapshot, WorkerPresence } from './worker-presence';

/** What a group's presence record says now: the hooks' state and the queues with a pool here. */
export function presenceSnapshot(hooks: RunHooks, queues: Iterable<Queue>): PresenceSnapshot {
  const hold = hooks.state();
  const started = [...queues]
    .filter((q) => q.started)
    .map((q) => ({
      name: q.name,
      owner: q.owner,
      workers: q.options.workers,
      running: q.executingJobs().length,
    }));
  return { state: hold.state, message: hold.message, stateSince: hold.since, queues: started };
}

/** Rewrites a group's presence record when its hooks or queues change what the record says. */
export class PresenceTriggers {
  constructor(
    private readonly presence: WorkerPresence,
    private readonly hooks: RunHooks,
  ) {
    // A wait that begins or ends is visible to other processes at once, not a pass later.
    const refresh = () => void this.presence.refresh();
    this.hooks.on('waiting', refresh).on('resumed', refresh);
  }

  /** Follows a queue the group holds: its pool starting, and releases made by a wait. */
  follow(queue: Queue): void {
    queue.on('started', () => void this.presence.refresh());
    // A wait releases the jobs it caught: report them as no longer running at once (a released
    // job is finishing, so the snapshot leaves it out), not at the next periodic write.
    queue.on('released', () => {
      if (!this.hooks.claimAllowed()) void this.presence.refresh();
    });
  }
}
