/**
 * A bench worker process, forked by bench/workers.ts: opens one consumer of one system, waits
 * for 'go', runs jobs, and on 'close' reports what it measured, closes and exits.
 *
 * Parent -> worker: { kind: 'go' }; { kind: 'close', drainTimeoutMs } (the close message of
 * test/support/fork.ts; the consumer gets that long to close before the worker exits anyway).
 * Worker -> parent: 'ready'; 'progress'
 * (final outcomes so far, every PROGRESS_MS); with `reportEach`, 'started' and 'finished' per job
 * (latency runs only: IPC per job would distort CPU figures); 'metrics'; 'error'.
 */
import type { CloseMessage } from '../test/support/fork';
import { epochMs, meter, meterRedis, type MeterSnapshot } from './meter';
import { agendaTuning } from './systems/agenda';
import { DRIVERS, type Consumer, type SystemName, type Target } from './systems';

export const WORKER_CONFIG_ENV = 'DROVER_BENCH_WORKER';
const PROGRESS_MS = 50;
/** How long the consumer may take to close when the parent asks; then the worker exits anyway. */
export const WORKER_CLOSE_TIMEOUT_MS = 10_000;
/** When the parent is gone nobody waits for a clean close: exit soon. */
const ORPHAN_CLOSE_TIMEOUT_MS = 2_000;

export interface WorkerConfig {
  system: SystemName;
  target: Target;
  concurrency: number;
  reportEach: boolean;
  agenda: typeof agendaTuning;
}

export interface WorkerMetrics extends MeterSnapshot {
  runs: number;
  completed: number;
  failed: number;
  /** Epoch ms (sub-ms) of the last final outcome; 0 when none. */
  lastFinalAt: number;
}

export type ToWorker = { kind: 'go' } | CloseMessage;
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'progress'; finals: number }
  | { kind: 'started'; seq: number; at: number }
  | { kind: 'finished'; seq: number; ok: boolean; at: number }
  | { kind: 'metrics'; metrics: WorkerMetrics }
  | { kind: 'error'; message: string };

function send(msg: FromWorker): void {
  if (process.connected) process.send?.(msg);
}

/** Sends and waits until the message is handed to the channel (before an exit). */
function sendNow(msg: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve();
    process.send(msg, undefined, {}, () => resolve());
  });
}

async function main(): Promise<void> {
  const raw = process.env[WORKER_CONFIG_ENV];
  if (!raw || !process.send)
    throw new Error('bench worker: fork me with an IPC channel and config');
  // The parent went away: do not linger (before the consumer exists, just exit).
  let onGone = (): void => process.exit(0);
  process.once('disconnect', () => onGone());
  const config = JSON.parse(raw) as WorkerConfig;
  Object.assign(agendaTuning, config.agenda);
  if (config.system === 'bullmq') meterRedis();
  const counts = { runs: 0, completed: 0, failed: 0, lastFinalAt: 0 };
  const consumer: Consumer = await DRIVERS[config.system].consumer(
    config.target,
    config.concurrency,
    {
      started: (seq) => {
        counts.runs += 1;
        if (config.reportEach) send({ kind: 'started', seq, at: epochMs() });
      },
      finished: (seq, ok) => {
        if (ok) counts.completed += 1;
        else counts.failed += 1;
        counts.lastFinalAt = epochMs();
        if (config.reportEach) send({ kind: 'finished', seq, ok, at: counts.lastFinalAt });
      },
    },
  );
  let progress: NodeJS.Timeout | undefined;
  let reported = 0;
  let stopping = false;
  const stop = async (closeTimeoutMs: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(progress);
    await sendNow({ kind: 'metrics', metrics: { ...meter.snapshot(), ...counts } });
    const timer = setTimeout(() => process.exit(3), closeTimeoutMs);
    try {
      await consumer.close();
    } finally {
      clearTimeout(timer);
      if (process.connected) process.disconnect?.();
      process.exit(0);
    }
  };
  process.on('message', (msg: ToWorker) => {
    if (msg.kind === 'go') {
      meter.reset();
      progress = setInterval(() => {
        const finals = counts.completed + counts.failed;
        if (finals !== reported) send({ kind: 'progress', finals });
        reported = finals;
      }, PROGRESS_MS);
      consumer.start().catch((err: unknown) => send({ kind: 'error', message: String(err) }));
    } else if (msg.kind === 'close') {
      void stop(msg.drainTimeoutMs ?? WORKER_CLOSE_TIMEOUT_MS);
    }
  });
  onGone = () => void stop(ORPHAN_CLOSE_TIMEOUT_MS);
  if (!process.connected) onGone();
  send({ kind: 'ready' });
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench worker ${process.pid}: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
