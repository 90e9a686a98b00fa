/**
 * Commands about jobs: `ls`, `show` and the actions `abort`, `retry`, `complete`, `requeue` and
 * `delete`. An action that changed nothing it was asked to (refused, conflict, not found) exits 1.
 */
import type { Command } from 'commander';
import { InvalidArgumentError, JobNotFoundError } from '../../../errors';
import { lastError } from '../../../job/error-record';
import type {
  ActionResult,
  JobDetail,
  JobFilter,
  JobPage,
  JobSummary,
  PageOptions,
} from '../../management';
import type { JobState } from '../../../types';
import { clip, formatDuration, formatTime, keyValues, parseTime, table } from '../format';
import { EXIT_FAILURE, EXIT_OK } from '../output';
import type { Actions } from '../actions';

/** Lines of a job's log `show` prints (the last ones). */
const SHOW_LOG_LINES = 50;

/** The error an attempt ended with (not the retry handler's "no retry left" note). */
function lastErrorText(doc: JobSummary): string {
  return lastError(doc.status?.errors)?.message ?? '';
}

/** A stored attempt as `--json` prints it: `id`, without the store's `_id`. */
function withoutStoreId<T extends { _id: string; id: string }>(doc: T): Omit<T, '_id'> {
  const { _id: _stored, ...rest } = doc;
  void _stored;
  return rest;
}

function pageJson(page: JobPage): unknown {
  return { ...page, jobs: page.jobs.map(withoutStoreId) };
}

function detailJson(d: JobDetail): unknown {
  return { ...d, latest: withoutStoreId(d.latest) };
}

function listTable(jobs: JobSummary[]): string {
  const rows = jobs.map((j) => [
    j.id,
    j.queue,
    j.type?.name ?? '?',
    j.state,
    String(j.retryInfo?.currentAttempt ?? 0),
    formatTime(j.timeInfo?.created),
    String(j.status?.errCount ?? 0),
    clip(lastErrorText(j), 50),
  ]);
  return table(
    ['ID', 'QUEUE', 'TYPE', 'STATE', 'ATTEMPT', 'CREATED', 'ERRORS', 'LAST ERROR'],
    rows,
    ['left', 'left', 'left', 'left', 'right', 'left', 'right', 'left'],
  );
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}

function detailText(d: JobDetail): string {
  const l = d.latest;
  const pairs: [string, string][] = [
    ['job', d.id],
    ['queue', d.queue],
    ['type', `${d.type?.name ?? '?'} v${d.type?.version ?? '?'}`],
    ['state', d.state],
    ['attempts', `${d.attempts.length} of at most ${l.retryInfo?.maxAttempts ?? '?'}`],
    ['priority', String(l.priority)],
    ['created', formatTime(l.timeInfo?.created)],
    ['due', l.state === 'pending' || l.state === 'blocked' ? formatTime(l.dueAt) : '-'],
    ['started', formatTime(l.timeInfo?.start)],
    ['ended', formatTime(l.timeInfo?.end)],
    ['owner', l.status?.owner || '-'],
    [
      'progress',
      `${Math.round((l.status?.progress ?? 0) * 10) / 10}%${l.status?.progressMessage ? ` ${l.status.progressMessage}` : ''}`,
    ],
  ];
  if (l.scopes?.length) pairs.push(['scopes', l.scopes.join(', ')]);
  if (l.enqueueScopes?.length) pairs.push(['enqueue scopes', l.enqueueScopes.join(', ')]);
  if (l.concurrencyKey) {
    pairs.push(['concurrency key', `${l.concurrencyKey.key} (limit ${l.concurrencyKey.limit})`]);
  }
  if (l.dependency && l.dependency.type !== 'always') {
    pairs.push(['dependency', `${l.dependency.type} on ${l.dependency.edges.join(', ') || '-'}`]);
  }
  if (l.quarantine) pairs.push(['quarantine', `${l.quarantine.code}: ${l.quarantine.reason}`]);
  const attempts = table(
    ['ATTEMPT', 'ID', 'STATE', 'CREATED', 'STARTED', 'WAITED', 'RAN', 'ERRORS', 'OWNER'],
    d.attempts.map((a) => [
      String(a.attempt),
      a.id,
      a.state,
      formatTime(a.created),
      formatTime(a.start),
      formatDuration(a.waitMs),
      formatDuration(a.runMs),
      String(a.errCount),
      a.owner || '-',
    ]),
    ['right'],
  );
  const errors = d.attempts.flatMap((a) =>
    a.errors.map((e) => `  #${a.attempt} ${formatTime(e.at)} ${e.code}: ${clip(e.message, 200)}`),
  );
  const last = lastError(l.status?.errors);
  const stack = last?.stack ? ['', 'stack of the last error', indent(last.stack)] : [];
  const log = l.status?.log ?? [];
  const dropped = (l.status?.logDropped ?? 0) + Math.max(0, log.length - SHOW_LOG_LINES);
  const logLines = log
    .slice(-SHOW_LOG_LINES)
    .map((line) => `  ${formatTime(line.at)} ${clip(line.message, 300)}`);
  return [
    keyValues(pairs),
    '',
    'payload',
    indent(JSON.stringify(l.payload ?? {}, null, 2)),
    ...(l.returnValue !== undefined
      ? ['', 'result', indent(JSON.stringify(l.returnValue, null, 2))]
      : []),
    '',
    'attempts',
    indent(attempts),
    ...(errors.length > 0 ? ['', 'errors', ...errors] : []),
    ...stack,
    ...(logLines.length > 0
      ? ['', `log${dropped > 0 ? ` (${dropped} earlier line(s) not shown)` : ''}`, ...logLines]
      : []),
  ].join('\n');
}

const DONE_WORDS: Record<ActionResult['action'], string> = {
  abort: 'aborted',
  retry: 'retried',
  complete: 'marked complete',
  requeue: 'requeued',
  delete: 'deleted',
};

function actionText(r: ActionResult): string {
  switch (r.outcome) {
    case 'done':
      return `${DONE_WORDS[r.action]} job ${r.id}: ${r.changed} document(s) changed (${r.ids.join(', ')})`;
    case 'requested':
      return `abort of running job ${r.id} requested; its worker stops it within one heartbeat`;
    case 'unchanged':
      return `nothing to do: ${r.reason ?? ''}`;
    case 'not-found':
      return `job ${r.id} not found`;
    default:
      return `${r.outcome}: ${r.reason ?? ''}`;
  }
}

/** Exit code of an action: 1 when it did not do what was asked. */
function actionCode(r: ActionResult): number {
  return ['done', 'requested', 'unchanged'].includes(r.outcome) ? EXIT_OK : EXIT_FAILURE;
}

function filterOf(opts: Record<string, unknown>): JobFilter {
  const filter: JobFilter = {};
  if (typeof opts.queue === 'string') filter.queue = opts.queue;
  if (typeof opts.type === 'string') filter.type = opts.type;
  if (typeof opts.state === 'string') filter.state = opts.state.split(',') as JobState[];
  if (typeof opts.id === 'string') filter.idContains = opts.id;
  if (typeof opts.since === 'string') filter.createdAfter = parseTime(opts.since, 'since');
  if (typeof opts.until === 'string') filter.createdBefore = parseTime(opts.until, 'until');
  return filter;
}

function pageOf(opts: Record<string, unknown>): PageOptions {
  const page: PageOptions = {};
  if (typeof opts.limit === 'string') {
    if (!/^\d{1,7}$/.test(opts.limit)) throw new InvalidArgumentError('--limit must be a number');
    page.limit = Number(opts.limit);
  }
  if (typeof opts.cursor === 'string') page.cursor = opts.cursor;
  if (typeof opts.order === 'string') page.order = opts.order as PageOptions['order'];
  return page;
}

/** Registers the job commands. */
export function registerJobCommands(program: Command, actions: Actions): void {
  program
    .command('ls')
    .description('list jobs (newest first), with filters and pages')
    .option('-q, --queue <queue>', 'only this queue')
    .option('-t, --type <type>', 'only this job type')
    .option('-s, --state <states>', 'only these states, comma-separated (e.g. failed,aborted)')
    .option('--id <text>', 'IDs containing this text (matched literally)')
    .option('--since <time>', 'created at or after: an ISO date or a duration ago (e.g. 2h)')
    .option('--until <time>', 'created before: an ISO date or a duration ago')
    .option('-n, --limit <n>', 'rows per page (1-1000)', '50')
    .option('--cursor <cursor>', 'the next-page cursor a previous ls printed')
    .option('--order <order>', 'newest (default) or id')
    .action(
      actions.db(async ({ ctx, opts, printer }) => {
        const page = await ctx.management.list(filterOf(opts), pageOf(opts));
        printer.result(pageJson(page), () =>
          page.jobs.length === 0 ? 'no jobs' : listTable(page.jobs),
        );
        if (!printer.json && page.nextCursor) {
          printer.note(`more: add --cursor ${page.nextCursor}`);
        }
      }),
    );

  program
    .command('show <id>')
    .description('one job in full: payload, result, log, times and every attempt with its errors')
    .action(
      actions.db(async ({ ctx, args, printer }) => {
        const detail = await ctx.management.job(args[0]);
        if (!detail) throw new JobNotFoundError(args[0]);
        printer.result(detailJson(detail), () => detailText(detail));
      }),
    );

  const simple = [
    ['abort', 'abort a job: at once if waiting, within one heartbeat if running'],
    ['retry', 'run a failed, aborted or expired job again now (a new attempt)'],
    ['complete', 'mark a pending, blocked or failed job completed'],
    ['requeue', 'run a finished job again (a new attempt; quarantined ones in place)'],
  ] as const;
  for (const [name, description] of simple) {
    program
      .command(`${name} <id>`)
      .description(description)
      .action(
        actions.db(async ({ ctx, args, printer }) => {
          const res = await ctx.management[name](args[0]);
          printer.result(res, () => actionText(res));
          return actionCode(res);
        }),
      );
  }

  program
    .command('delete <id>')
    .description('delete a job and all its attempts')
    .option('-f, --force', 'delete it even while it runs (its worker loses the lock)')
    .action(
      actions.db(async ({ ctx, args, opts, printer }) => {
        const res = await ctx.management.delete(args[0], { force: opts.force === true });
        printer.result(res, () => actionText(res));
        return actionCode(res);
      }),
    );
}
