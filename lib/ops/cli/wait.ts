/**
 * `drover wait`: polls a queue's counts until nothing is pending, blocked or running, drawing a
 * live progress bar (cli-progress) on stderr when it is a terminal. Delayed jobs (pending, not
 * due yet: a `delayMs`, a retry's backoff) are waited for too, and said so on stderr; with
 * `ignoreDelayed` they are not waited for. A queue that does not exist is refused.
 */
import { SingleBar, Presets } from 'cli-progress';
import { WaitTimeoutError } from '../../errors';
import type { Management } from '../management';
import { emptyQueueStats, type QueueStats } from '../../types';
import { checkQueueName } from '../../validate';
import type { Printer } from './output';

/** Options of `waitForQueue`. */
export interface WaitForQueueOptions {
  management: Management;
  queue: string;
  intervalMs: number;
  /** Undefined: wait for ever. */
  timeoutMs?: number;
  /** Do not wait for pending jobs that are not due yet. */
  ignoreDelayed?: boolean;
  printer: Printer;
}

/** Pending jobs not due yet. */
function delayed(s: QueueStats): number {
  return Math.max(0, s.pending - s.due);
}

/**
 * Resolves with the queue's final counts once it has no pending, blocked or running job on two
 * polls in a row (a retry hands over between two writes; the second look does not miss it).
 * Throws WaitTimeoutError after `timeoutMs`.
 */
export async function waitForQueue(options: WaitForQueueOptions): Promise<QueueStats> {
  const { management, printer, intervalMs } = options;
  const queue = await management.assertQueue(checkQueueName(options.queue));
  const outstanding = (s: QueueStats) =>
    s.pending + s.blocked + s.running - (options.ignoreDelayed ? delayed(s) : 0);
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const read = async () => (await management.counts({ queue })).queues[0] ?? emptyQueueStats(queue);
  const first = await read();
  // Progress counts attempts that finished since we started; the total grows as jobs arrive.
  const finishedAtStart = first.total - outstanding(first);
  const showBar = !printer.json && printer.streams.stderr.isTTY === true;
  const bar = new SingleBar(
    {
      stream: printer.streams.stderr,
      format: `${queue} {bar} {value}/{total} | pending {pending} running {running} blocked {blocked} | failed {failed}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    Presets.shades_classic,
  );
  const payload = (s: QueueStats) => ({
    pending: s.pending,
    running: s.running,
    blocked: s.blocked,
    failed: s.failed,
  });
  const done = (s: QueueStats) => s.total - outstanding(s) - finishedAtStart;
  if (showBar) bar.start(done(first) + outstanding(first), done(first), payload(first));
  let current = first;
  let quietPolls = outstanding(first) === 0 ? 1 : 0;
  let flagged = 0;
  const flagDelayed = (s: QueueStats) => {
    const n = delayed(s);
    if (options.ignoreDelayed || n === 0 || n === flagged) return;
    flagged = n;
    printer.note(
      `${queue}: waiting also for ${n} delayed job(s) not due yet (a delay or a retry's ` +
        'backoff); --ignore-delayed stops waiting for them',
    );
  };
  flagDelayed(first);
  try {
    while (quietPolls < 2) {
      if (Date.now() >= deadline)
        throw new WaitTimeoutError(`queue ${queue}`, options.timeoutMs ?? 0);
      await new Promise((r) =>
        setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
      );
      current = await read();
      quietPolls = outstanding(current) === 0 ? quietPolls + 1 : 0;
      flagDelayed(current);
      if (showBar) {
        bar.setTotal(done(current) + outstanding(current));
        bar.update(done(current), payload(current));
      }
    }
  } finally {
    if (showBar) bar.stop();
  }
  return current;
}
