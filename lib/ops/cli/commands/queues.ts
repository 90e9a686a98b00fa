/**
 * Commands about queues: `stats`, `workers`, `prune`, `pause`, `resume` and `wait`.
 */
import type { Command } from 'commander';
import type { JobState, QueueStats } from '../../../types';
import type { Counts, FuseResult, RateRow, Rates } from '../../management';
import { countWorkerStates, type WorkerRecord } from '../../../store/worker-store';
import { clip, formatDuration, formatTime, parseDuration, table } from '../format';
import { EXIT_OK } from '../output';
import type { Actions } from '../actions';
import { waitForQueue } from '../wait';

const STATE_COLUMNS = [
  'total',
  'pending',
  'due',
  'blocked',
  'running',
  'retrying',
  'completed',
  'failed',
  'aborted',
  'expired',
  'quarantined',
] as const;

/** Text of a fuse: `paused`, `types: a,b`, or empty. */
function fuseText(fuse: { paused: boolean; pausedTypes: string[] } | undefined): string {
  if (!fuse) return '';
  const parts: string[] = [];
  if (fuse.paused) parts.push('paused');
  if (fuse.pausedTypes.length > 0) parts.push(`types paused: ${fuse.pausedTypes.join(',')}`);
  return parts.join('; ');
}

function statsTable(
  counts: Counts,
  byType: boolean,
  fuses: Map<string, { paused: boolean; pausedTypes: string[] }>,
): string {
  const numbers = (s: Omit<QueueStats, 'queue'>) => STATE_COLUMNS.map((c) => String(s[c]));
  const lead = byType ? ['QUEUE', 'TYPE'] : ['QUEUE'];
  const header = [...lead, ...STATE_COLUMNS.map((c) => c.toUpperCase()), 'FUSES'];
  const rows = byType
    ? counts.types.map((t) => [t.queue, t.type, ...numbers(t), fuseText(fuses.get(t.queue))])
    : counts.queues.map((q) => [q.queue, ...numbers(q), fuseText(fuses.get(q.queue))]);
  rows.push([...lead.map((_, i) => (i === 0 ? 'all' : '')), ...numbers(counts.totals), '']);
  const align = header.map((_, i) =>
    i < lead.length || i === header.length - 1 ? 'left' : 'right',
  );
  return table(header, rows, align as ('left' | 'right')[]);
}

/** One line on the live workers: `workers: 2 groups, 8 ready (3 running); 1 group auth-required`. */
function workersLine(records: WorkerRecord[]): string {
  if (records.length === 0) return 'workers: none live';
  const parts = countWorkerStates(records).map(
    (c) =>
      `${c.groups} group(s) ${c.state}: ${c.workers} worker(s), ${c.running} running` +
      (c.state === 'ready' ? '' : ` (${firstMessage(records, c.state)})`),
  );
  return `workers: ${parts.join('; ')}`;
}

function firstMessage(records: WorkerRecord[], state: string): string {
  return clip(records.find((r) => r.state === state)?.message ?? '', 60);
}

function workersTable(records: WorkerRecord[], now: number): string {
  const header = ['GROUP', 'HOST', 'PID', 'STATE', 'FOR', 'QUEUES (running/workers)', 'SEEN'];
  const rows = records.map((r) => [
    r._id,
    r.host,
    String(r.pid),
    r.state === 'ready' ? r.state : `${r.state}: ${clip(r.message, 40)}`,
    r.stateSince ? formatDuration(now - r.stateSince.getTime()) : '',
    r.queues.map((q) => `${q.name} ${q.running}/${q.workers}`).join(', '),
    `${formatDuration(now - r.seenAt.getTime())} ago`,
  ]);
  return table(header, rows);
}

function fuseReport(r: FuseResult): string {
  const what = r.type === undefined ? `queue ${r.queue}` : `job type ${r.type} in queue ${r.queue}`;
  const done = r.action === 'pause' ? 'paused' : 'resumed';
  return r.changed > 0 ? `${done} ${what}` : `${what} was already ${done}`;
}

const RATE_HEADER = [
  'STARTED',
  'COMPLETED',
  'FAILED',
  'RETRIED',
  'ABORTED',
  'DONE/MIN',
  'FAILED/MIN',
  'AVG WAIT',
  'MAX WAIT',
  'AVG RUN',
  'MAX RUN',
];

/** Rates over a window (`stats --since`), a row per queue (or queue and type) and a total. */
function ratesTable(rates: Rates, byType: boolean): string {
  const perMin = (n: number) => (n === 0 ? '0' : n < 10 ? n.toFixed(2) : n.toFixed(1));
  const numbers = (r: RateRow) => [
    String(r.started),
    String(r.completed),
    String(r.failed),
    String(r.retried),
    String(r.aborted),
    perMin(r.completedPerMin),
    perMin(r.failedPerMin),
    formatDuration(r.waitAvgMs),
    r.started > 0 ? formatDuration(r.waitMaxMs) : '-',
    formatDuration(r.runAvgMs),
    r.runCount > 0 ? formatDuration(r.runMaxMs) : '-',
  ];
  const lead = byType ? ['QUEUE', 'TYPE'] : ['QUEUE'];
  const rows = rates.rows.map((r) => [r.queue, ...(byType ? [r.type ?? ''] : []), ...numbers(r)]);
  rows.push([...lead.map((_, i) => (i === 0 ? 'all' : '')), ...numbers(rates.totals)]);
  const align = [...lead.map(() => 'left' as const), ...RATE_HEADER.map(() => 'right' as const)];
  return table([...lead, ...RATE_HEADER], rows, align);
}

/** The line above the rates: the window, exactly. */
function windowLine(rates: Rates, since: string): string {
  return `over the last ${since}: ${formatTime(rates.from)} to ${formatTime(rates.to)} (${rates.minutes.toFixed(1)} min), from the workers' rollups`;
}

/** Registers the queue commands. */
export function registerQueueCommands(program: Command, actions: Actions): void {
  program
    .command('stats')
    .description('counts by queue (and job type) and state; with --since, rates over a past window')
    .option('-q, --queue <queue>', 'only this queue')
    .option('-t, --by-type', 'one row per queue and job type')
    .option('--since <duration>', 'rates over the last 1h, 1d, 7d... (completed, failed, waits)')
    .option('--type <type>', 'with --since: only this job type')
    .action(
      actions.db(async ({ ctx, opts, printer }) => {
        const queue = opts.queue as string | undefined;
        const since = opts.since as string | undefined;
        if (since !== undefined) {
          const rates = await ctx.management.rates({
            sinceMs: parseDuration(since, 'window'),
            queue,
            type: opts.type as string | undefined,
            byType: opts.byType === true || opts.type !== undefined,
          });
          const byType = opts.byType === true || opts.type !== undefined;
          printer.result(rates, () =>
            [
              windowLine(rates, since),
              rates.rows.length === 0 ? 'nothing ran in this window' : ratesTable(rates, byType),
            ].join('\n'),
          );
          return;
        }
        const [counts, records, workers] = await Promise.all([
          ctx.management.counts({ queue }),
          ctx.management.queueRecords(),
          ctx.management.workers({ queue }),
        ]);
        const fuses = new Map(records.map((r) => [r.name, r]));
        const json = {
          queues: counts.queues.map((q) => ({
            ...q,
            paused: fuses.get(q.queue)?.paused ?? false,
            pausedTypes: fuses.get(q.queue)?.pausedTypes ?? [],
          })),
          types: counts.types,
          totals: counts.totals,
          workers: countWorkerStates(workers),
        };
        printer.result(json, () =>
          [
            counts.queues.length === 0
              ? 'no jobs'
              : statsTable(counts, opts.byType === true, fuses),
            workersLine(workers),
          ].join('\n'),
        );
      }),
    );

  program
    .command('workers')
    .description('live worker groups in every process: queues, running jobs, waiting states')
    .option('-q, --queue <queue>', 'only groups serving this queue')
    .action(
      actions.db(async ({ ctx, opts, printer }) => {
        const workers = await ctx.management.workers({ queue: opts.queue as string | undefined });
        printer.result(workers, () =>
          workers.length === 0 ? 'no live workers' : workersTable(workers, Date.now()),
        );
      }),
    );

  program
    .command('prune')
    .description('delete finished attempts that ended long ago (retention)')
    .option('--older-than <duration>', 'age of the attempts to delete, e.g. 14d (default 14d)')
    .option('-q, --queue <queue>', 'only this queue')
    .option('-s, --state <states>', 'only these finished states, comma-separated')
    .action(
      actions.db(async ({ ctx, opts, printer }) => {
        const olderThan = opts.olderThan as string | undefined;
        const state = opts.state as string | undefined;
        const res = await ctx.management.prune({
          olderThanMs: olderThan === undefined ? undefined : parseDuration(olderThan, 'age'),
          queue: opts.queue as string | undefined,
          states: state === undefined ? undefined : (state.split(',') as JobState[]),
        });
        printer.result(res, () => {
          const lines = [
            `deleted ${res.changed} finished attempt(s) that ended before ${formatTime(res.cutoff)}`,
          ];
          for (const [q, n] of Object.entries(res.byQueue)) lines.push(`  ${q}: ${n}`);
          return lines.join('\n');
        });
      }),
    );

  for (const action of ['pause', 'resume'] as const) {
    program
      .command(`${action} <queue>`)
      .description(
        action === 'pause'
          ? 'stop claims from a queue (or of one job type) in every process'
          : 'let a paused queue (or job type) be claimed again',
      )
      .option('-t, --type <type>', 'only this job type')
      .action(
        actions.db(async ({ ctx, args, opts, printer }) => {
          const type = opts.type as string | undefined;
          const res = await ctx.management[action](args[0], { type });
          printer.result(res, () => fuseReport(res));
        }),
      );
  }

  program
    .command('wait <queue>')
    .description(
      'show progress until the queue has no pending, blocked or running jobs ' +
        '(delayed jobs included: it says so)',
    )
    .option('--timeout <duration>', 'give up (exit 1) after this long, e.g. 10m')
    .option('--interval <duration>', 'how often to look', '500ms')
    .option('--ignore-delayed', 'do not wait for pending jobs that are not due yet')
    .action(
      actions.db(async ({ ctx, args, opts, printer }) => {
        const timeout = opts.timeout as string | undefined;
        const final = await waitForQueue({
          management: ctx.management,
          queue: args[0],
          intervalMs: parseDuration(opts.interval as string, 'interval'),
          timeoutMs: timeout === undefined ? undefined : parseDuration(timeout, 'timeout'),
          ignoreDelayed: opts.ignoreDelayed === true,
          printer,
        });
        printer.result(
          final,
          () =>
            `queue ${final.queue} drained: ${final.completed} completed, ${final.failed} failed, ` +
            `${final.aborted} aborted, ${final.expired} expired`,
        );
        return EXIT_OK;
      }),
    );
}
