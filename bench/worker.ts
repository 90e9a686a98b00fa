/**
 * A bench worker process, forked by bench/workers.ts: opens one consumer of one system, waits
 * for 'go', runs jobs, and on 'close' reports what it measured, closes and exits.
 *
 * Parent -> worker: { kind: 'go' }; { kind: 'close', drainTimeoutMs } (the close message of
 * test/support/fork.ts; the consumer gets that long to close before the worker exits anyway).
 * Worker -> parent: 'ready'; 'progress'
 * (final outcomes so far, every PROGRESS_MS; with `progressMeter`, the meter too); 'marked' (the
 * meter restarted at `markAt` outcomes); with `reportEach`, 'started' and 'finished' per job
 * (latency runs only: IPC per job would distort CPU figures); 'metrics'; 'error'.
 */
import type { CloseMessage } from '../test/support/fork';
import { epochMs, meter, meterRedis, type MeterSnapshot } from './meter';
import { agendaTuning } from './systems/agenda';
import {
  DRIVERS,
  type Consumer,
  type ConsumerHooks,
  type SystemName,
  type Target,
} from './systems';

export const WORKER_CONFIG_ENV = 'DROVER_BENCH_WORKER';
const PROGRESS_MS = 50;
/** Jobs per putMany of a self-filling worker. */
const SELF_FILL_BATCH = 1_000;
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
  /**
   * Jobs the worker puts itself before it reports ready (unmeasured), producer and consumer in
   * one process: how the in-memory store is measured (no other process can reach it).
   */
  selfFill?: number;
  /**
   * A warm worker: the meter restarts at this many final outcomes (in the handler of the last
   * one, so what ran before is not measured) and the parent is told with 'marked'.
   */
  markAt?: number;
  /**
   * Progress messages carry the meter's snapshot, so the parent can end a measured window at the
   * last outcome it saw (a run that stalls is then measured up to its last progress).
   */
  progressMeter?: boolean;
}

export interface WorkerMetrics extends MeterSnapshot {
  runs: number;
  completed: number;
  failed: number;
  /** Epoch ms (sub-ms) of the last final outcome; 0 when none. */
  lastFinalAt: number;
  /** Final outcomes before the meter restarted (`markAt`); 0 without one. */
  finalsAtMark: number;
}

export type ToWorker = { kind: 'go' } | CloseMessage;
export type FromWorker =
  | { kind: 'ready' }
  | { kind: 'marked'; finals: number; at: number }
  | { kind: 'progress'; finals: number; meter?: MeterSnapshot }
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

type Counts = Omit<WorkerMetrics, keyof MeterSnapshot>;

/** The consumer's hooks: counts, the warm worker's mark, and per-job reports when asked. */
function hooksOf(config: WorkerConfig, counts: Counts): ConsumerHooks {
  return {
    started: (seq) => {
      counts.runs += 1;
      if (config.reportEach) send({ kind: 'started', seq, at: epochMs() });
    },
    finished: (seq, ok) => {
      if (ok) counts.completed += 1;
      else counts.failed += 1;
      counts.lastFinalAt = epochMs();
      if (config.markAt && counts.completed + counts.failed === config.markAt) {
        meter.reset();
        counts.finalsAtMark = config.markAt;
        send({ kind: 'marked', finals: config.markAt, at: epochMs() });
      }
      if (config.reportEach) send({ kind: 'finished', seq, ok, at: counts.lastFinalAt });
    },
  };
}

/** The system's consumer; with `selfFill`, its producer first puts the jobs (not measured). */
async function openConsumer(config: WorkerConfig, hooks: ConsumerHooks): Promise<Consumer> {
  const driver = DRIVERS[config.system];
  if (!config.selfFill) return driver.consumer(config.target, config.concurrency, hooks);
  const local = await driver.local(config.target, config.concurrency, hooks);
  for (let from = 0; from < config.selfFill; from += SELF_FILL_BATCH) {
    const count = Math.min(SELF_FILL_BATCH, config.selfFill - from);
    await local.putMany(Array.from({ length: count }, (_, i) => ({ seq: from + i, fail: false })));
  }
  return local;
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
  const counts: Counts = { runs: 0, completed: 0, failed: 0, lastFinalAt: 0, finalsAtMark: 0 };
  const consumer = await openConsumer(config, hooksOf(config, counts));
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
        if (finals !== reported) {
          send({
            kind: 'progress',
            finals,
            ...(config.progressMeter ? { meter: meter.snapshot() } : {}),
          });
        }
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
