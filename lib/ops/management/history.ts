/**
 * History read from the rollups the workers keep (lib/history/rollup-recorder.ts): series of
 * counts, queue waits and run times over time per queue or per job type (the dashboard's charts),
 * and totals and rates over a window (`drover stats --since`). Every value is validated here
 * before it reaches the rollup store.
 */
import { InvalidArgumentError } from '../../errors';
import { compareStrings } from '../../store/job-store';
import {
  addRollup,
  bucketStart,
  emptyRollup,
  type RollupCounts,
  type RollupMaxima,
  type RollupStore,
  type RollupSum,
} from '../../store/rollup-store';
import { checkDate, checkNumber, checkQueueName, checkTypeName } from '../../validate';

const MINUTE_MS = 60_000;
/** Window of `history()` and `rates()` when none is given. */
export const HISTORY_SINCE_MS_DEFAULT = 3_600_000;
/** Longest window (as the longest retention of rollups). */
export const HISTORY_SINCE_MS_MAX = 400 * 86_400_000;
/** Bucket widths `history()` picks from: the narrowest giving at most HISTORY_POINTS_TARGET. */
export const HISTORY_BUCKETS_MS: readonly number[] = [
  MINUTE_MS,
  5 * MINUTE_MS,
  15 * MINUTE_MS,
  30 * MINUTE_MS,
  3_600_000,
  2 * 3_600_000,
  6 * 3_600_000,
  12 * 3_600_000,
  86_400_000,
];
export const HISTORY_POINTS_TARGET = 120;
/** Most buckets one `history()` call returns. */
export const HISTORY_POINTS_MAX = 2_000;

/** What `history()` reads. All optional. */
export interface HistoryQuery {
  /** Length of the window, ending at `until`; default HISTORY_SINCE_MS_DEFAULT (1 h). */
  sinceMs?: number;
  /** End of the window; default now. */
  until?: Date;
  /** Only this queue. */
  queue?: string;
  /** Only this job type. */
  type?: string;
  /**
   * One series per queue ('queue') or per queue and job type ('type'); default 'type' when a
   * queue or type is given, else 'queue'.
   */
  by?: 'queue' | 'type';
  /** Width of a point, a whole number of minutes; default: see HISTORY_BUCKETS_MS. */
  bucketMs?: number;
}

/** Counts, sums and maxima over a span, with the averages they give. */
export interface HistoryFigures extends RollupCounts, RollupMaxima {
  /** Average queue wait of the attempts that started; null when none did. */
  waitAvgMs: number | null;
  /** Average run time of the timed runs; null when none was timed. */
  runAvgMs: number | null;
}

/** The figures of one bucket, starting at `at`. */
export interface HistoryPoint extends HistoryFigures {
  at: Date;
}

/** One line of a chart: a queue, or a queue's job type. */
export interface HistorySeries {
  queue: string;
  /** Present when the series is of one job type. */
  type?: string;
  /** One per bucket of the window, zeros where nothing happened. */
  points: HistoryPoint[];
  /** Over the whole window. */
  totals: HistoryFigures;
}

/** What `history()` returns. */
export interface History {
  /** Start of the first bucket (the window's start, rounded down to a bucket). */
  from: Date;
  /** End of the window (the last bucket is cut there). */
  to: Date;
  bucketMs: number;
  /** Sorted by queue, then type; only those with rollups in the window. */
  series: HistorySeries[];
  /** Every series summed, bucket by bucket. */
  points: HistoryPoint[];
  totals: HistoryFigures;
}

/** What `rates()` reads. All optional. */
export interface RatesQuery {
  /** Length of the window, ending at `until`; default HISTORY_SINCE_MS_DEFAULT (1 h). */
  sinceMs?: number;
  until?: Date;
  queue?: string;
  type?: string;
  /** One row per queue and job type instead of one per queue. */
  byType?: boolean;
}

/** Figures over a window, with outcomes per minute. */
export interface RateRow extends HistoryFigures {
  queue: string;
  type?: string;
  completedPerMin: number;
  failedPerMin: number;
  retriedPerMin: number;
  abortedPerMin: number;
}

/** What `rates()` returns. */
export interface Rates {
  /** The window: from the minute holding `until - sinceMs` to `until`. */
  from: Date;
  to: Date;
  /** Length of the window in minutes (rates are per minute of it). */
  minutes: number;
  /** Sorted by queue, then type. */
  rows: RateRow[];
  /** Every row summed (`queue` is ''). */
  totals: RateRow;
}

/** Figures from summed counters. */
function figures(sum: RollupCounts & RollupMaxima): HistoryFigures {
  const out: HistoryFigures = { ...emptyRollup(), waitAvgMs: null, runAvgMs: null };
  addRollup(out, sum);
  out.waitAvgMs = sum.started > 0 ? sum.waitSumMs / sum.started : null;
  out.runAvgMs = sum.runCount > 0 ? sum.runSumMs / sum.runCount : null;
  return out;
}

function checkSince(sinceMs: unknown): number {
  return checkNumber(
    'sinceMs',
    sinceMs ?? HISTORY_SINCE_MS_DEFAULT,
    MINUTE_MS,
    HISTORY_SINCE_MS_MAX,
  );
}

/** The window [from, to) of a query, with `from` rounded down to `unitMs`. */
function windowOf(sinceMs: number, until: unknown, now: Date, unitMs: number) {
  const to = until === undefined ? now : checkDate('until', until);
  const from = new Date(bucketStart(to.getTime() - sinceMs, unitMs));
  return { from, to };
}

/** The narrowest bucket width giving at most HISTORY_POINTS_TARGET points over `sinceMs`. */
export function pickBucketMs(sinceMs: number): number {
  const fits = HISTORY_BUCKETS_MS.find((b) => sinceMs / b <= HISTORY_POINTS_TARGET);
  return fits ?? HISTORY_BUCKETS_MS[HISTORY_BUCKETS_MS.length - 1];
}

function checkBucket(value: unknown, sinceMs: number): number {
  if (value === undefined) return pickBucketMs(sinceMs);
  const b = checkNumber('bucketMs', value, MINUTE_MS, 86_400_000);
  if (b % MINUTE_MS !== 0) throw new InvalidArgumentError('bucketMs must be whole minutes');
  if (sinceMs / b > HISTORY_POINTS_MAX) {
    throw new InvalidArgumentError(`more than ${HISTORY_POINTS_MAX} buckets: widen bucketMs`);
  }
  return b;
}

function checkFilter(q: { queue?: unknown; type?: unknown }): { queue?: string; type?: string } {
  return {
    queue: q.queue === undefined ? undefined : checkQueueName(q.queue),
    type: q.type === undefined ? undefined : checkTypeName(q.type),
  };
}

/** Reads series over time from the rollups (see `Management.history`). */
export async function readHistory(
  store: RollupStore,
  query: HistoryQuery,
  now: Date,
): Promise<History> {
  const sinceMs = checkSince(query.sinceMs);
  const bucketMs = checkBucket(query.bucketMs, sinceMs);
  const { from, to } = windowOf(sinceMs, query.until, now, bucketMs);
  const filter = checkFilter(query);
  if (query.by !== undefined && query.by !== 'queue' && query.by !== 'type') {
    throw new InvalidArgumentError('by must be "queue" or "type"');
  }
  const byType = (query.by ?? (filter.queue || filter.type ? 'type' : 'queue')) === 'type';
  const sums = await store.rollupSums({ from, to, bucketMs, ...filter });
  const starts: number[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += bucketMs) starts.push(t);
  const index = new Map(starts.map((t, i) => [t, i]));
  const empty = () => starts.map(() => emptyRollup());
  const all = empty();
  const bySeries = new Map<string, { queue: string; type?: string; sums: RollupSum[] }>();
  for (const s of sums) {
    const i = index.get(s.at?.getTime() ?? -1);
    if (i === undefined) continue;
    addRollup(all[i], s);
    const key = byType ? `${s.queue}|${s.type}` : s.queue;
    const entry = bySeries.get(key) ?? {
      queue: s.queue,
      ...(byType ? { type: s.type } : {}),
      sums: [],
    };
    entry.sums.push(s);
    bySeries.set(key, entry);
  }
  const toPoints = (buckets: (RollupCounts & RollupMaxima)[]): HistoryPoint[] =>
    buckets.map((b, i) => ({ at: new Date(starts[i]), ...figures(b) }));
  const total = (buckets: (RollupCounts & RollupMaxima)[]) => {
    const t = emptyRollup();
    for (const b of buckets) addRollup(t, b);
    return figures(t);
  };
  const series = [...bySeries.values()]
    .sort((a, b) => compareStrings(a.queue, b.queue) || compareStrings(a.type ?? '', b.type ?? ''))
    .map(({ sums: rows, ...name }): HistorySeries => {
      const buckets = empty();
      for (const r of rows) addRollup(buckets[index.get(r.at?.getTime() ?? -1) ?? 0], r);
      return { ...name, points: toPoints(buckets), totals: total(buckets) };
    });
  return { from, to, bucketMs, series, points: toPoints(all), totals: total(all) };
}

/** Reads totals and per-minute rates over a window from the rollups (see `Management.rates`). */
export async function readRates(store: RollupStore, query: RatesQuery, now: Date): Promise<Rates> {
  const { from, to } = windowOf(checkSince(query.sinceMs), query.until, now, MINUTE_MS);
  const filter = checkFilter(query);
  const sums = await store.rollupSums({ from, to, bucketMs: 0, ...filter });
  const minutes = Math.max(1, (to.getTime() - from.getTime()) / MINUTE_MS);
  const rows = new Map<
    string,
    { queue: string; type?: string; sum: RollupCounts & RollupMaxima }
  >();
  const all = emptyRollup();
  for (const s of sums) {
    const key = query.byType ? `${s.queue}|${s.type}` : s.queue;
    const row = rows.get(key) ?? {
      queue: s.queue,
      ...(query.byType ? { type: s.type } : {}),
      sum: emptyRollup(),
    };
    addRollup(row.sum, s);
    addRollup(all, s);
    rows.set(key, row);
  }
  const rate = (
    queue: string,
    type: string | undefined,
    sum: RollupCounts & RollupMaxima,
  ): RateRow => ({
    queue,
    ...(type === undefined ? {} : { type }),
    ...figures(sum),
    completedPerMin: sum.completed / minutes,
    failedPerMin: sum.failed / minutes,
    retriedPerMin: sum.retried / minutes,
    abortedPerMin: sum.aborted / minutes,
  });
  return {
    from,
    to,
    minutes,
    rows: [...rows.values()].map((r) => rate(r.queue, r.type, r.sum)),
    totals: rate('', undefined, all),
  };
}
