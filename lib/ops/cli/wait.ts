/**
 * `drover wait`: polls a queue's counts until nothing is pending, blocked or running, drawing a
 * live progress bar (cli-progress) on stderr when it is a terminal.
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
  printer: Printer;
}

/** Jobs still to be done: waiting or under way. */
function outstanding(s: QueueStats): number {
  return s.pending + s.blocked + s.running;
}

/**
 * Resolves with the queue's final counts once it has no pending, blocked or running job on two
 * polls in a row (a retry hands over between two writes; the second look does not miss it).
 * Throws WaitTimeoutError after `timeoutMs`.
 */
export async function waitForQueue(options: WaitForQueueOptions): Promise<QueueStats> {
  const { management, printer, intervalMs } = options;
  const queue = checkQueueName(options.queue);
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
  try {
    while (quietPolls < 2) {
      if (Date.now() >= deadline)
        throw new WaitTimeoutError(`queue ${queue}`, options.timeoutMs ?? 0);
      await new Promise((r) =>
        setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
      );
      current = await read();
      quietPolls = outstanding(current) === 0 ? quietPolls + 1 : 0;
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
