/**
 * Data of the queues overview: counts from one management aggregation, the queues' fuses, and
 * throughput. Throughput is measured by this dashboard from count deltas: each overview read
 * keeps a sample of the completed and failed counts per queue, and the rate is the growth since
 * the oldest sample of the last minute, per minute. It needs two samples at least
 * THROUGHPUT_MIN_SPAN_MS apart (null before), and pruning finished jobs can only lower it (a
 * negative delta counts as 0).
 */
import type { Management, TotalStats, TypeStats } from '../management';
import { emptyQueueStats, type QueueStats } from '../../types';
import type { WorkerRecord } from '../../store/worker-store';

/** Span over which throughput is measured. */
export const THROUGHPUT_WINDOW_MS = 60_000;
/** Shortest span that gives a rate. */
export const THROUGHPUT_MIN_SPAN_MS = 3_000;
/** Samples closer than this to the previous one are not kept. */
const SAMPLE_EVERY_MS = 1_000;

/** Finished counts per queue at one time. */
interface Sample {
  at: number;
  byQueue: Map<string, { completed: number; failed: number }>;
}

/** Jobs finished per minute; null until measurable. */
export interface Rate {
  completedPerMin: number | null;
  failedPerMin: number | null;
}

/** A queue in the overview: counts, fuses and throughput. */
export interface QueueOverview extends QueueStats, Rate {
  paused: boolean;
  pausedTypes: string[];
}

/** What the overview page shows and `/api/counts` returns. */
export interface OverviewData {
  at: Date;
  totals: TotalStats;
  throughput: Rate & { spanMs: number };
  queues: QueueOverview[];
  types: TypeStats[];
  /** Live worker groups of every process (presence records). */
  workers: WorkerRecord[];
}

/** Samples of finished counts, kept for one window. */
export class Throughput {
  private samples: Sample[] = [];

  constructor(private readonly windowMs = THROUGHPUT_WINDOW_MS) {}

  /** Keeps a sample (at most one per second). */
  record(at: number, queues: QueueStats[]): void {
    const last = this.samples[this.samples.length - 1];
    if (last && at - last.at < SAMPLE_EVERY_MS) return;
    const byQueue = new Map(
      queues.map((q) => [q.queue, { completed: q.completed, failed: q.failed }]),
    );
    this.samples.push({ at, byQueue });
    // Keep one sample older than the window, so a full window can always be measured.
    while (this.samples.length > 2 && this.samples[1].at <= at - this.windowMs) {
      this.samples.shift();
    }
  }

  /** Span between the oldest usable sample and the newest. */
  private ends(): { first: Sample; last: Sample; minutes: number } | undefined {
    const last = this.samples[this.samples.length - 1];
    const first =
      this.samples.find((s) => s.at >= (last?.at ?? 0) - this.windowMs) ?? this.samples[0];
    if (!first || !last || last.at - first.at < THROUGHPUT_MIN_SPAN_MS) return undefined;
    return { first, last, minutes: (last.at - first.at) / 60_000 };
  }

  /** The span rates are measured over, in ms (0 when not yet measurable). */
  spanMs(): number {
    const e = this.ends();
    return e ? e.last.at - e.first.at : 0;
  }

  /** Rate of one queue, or of all queues when `queue` is undefined. */
  rate(queue?: string): Rate {
    const e = this.ends();
    if (!e) return { completedPerMin: null, failedPerMin: null };
    const sum = (s: Sample, field: 'completed' | 'failed') => {
      if (queue !== undefined) return s.byQueue.get(queue)?.[field] ?? 0;
      let n = 0;
      for (const v of s.byQueue.values()) n += v[field];
      return n;
    };
    const per = (field: 'completed' | 'failed') =>
      Math.round((Math.max(0, sum(e.last, field) - sum(e.first, field)) / e.minutes) * 10) / 10;
    return { completedPerMin: per('completed'), failedPerMin: per('failed') };
  }
}

/** Reads the overview and records a throughput sample. */
export async function readOverview(
  management: Management,
  throughput: Throughput,
  now: () => Date,
): Promise<OverviewData> {
  const [counts, records, workers] = await Promise.all([
    management.counts(),
    management.queueRecords(),
    management.workers(),
  ]);
  const at = now();
  throughput.record(at.getTime(), counts.queues);
  const stats = new Map(counts.queues.map((q) => [q.queue, q]));
  const fuses = new Map(records.map((r) => [r.name, r]));
  // Queues with a record but no job (a paused empty queue) are shown too.
  const names = [...new Set([...stats.keys(), ...fuses.keys()])].sort();
  const queues = names.map((name): QueueOverview => {
    const record = fuses.get(name);
    return {
      ...(stats.get(name) ?? emptyQueueStats(name)),
      paused: record?.paused ?? false,
      pausedTypes: record?.pausedTypes ?? [],
      ...throughput.rate(name),
    };
  });
  return {
    at,
    totals: counts.totals,
    throughput: { ...throughput.rate(), spanMs: throughput.spanMs() },
    queues,
    types: counts.types,
    workers,
  };
}
