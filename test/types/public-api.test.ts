/**
 * The public names of every entry point, values and types. A change here is a change of the
 * package's API: make it on purpose, in the same commit as the code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { projectRoot } from '../support/server';

const PUBLIC_API: Record<string, { source: string; names: string[] }> = {
  drover: {
    source: 'lib/index.ts',
    names: [
      'AfterRunContext',
      'AfterRunHook',
      'AlwaysDependency',
      'Backoff',
      'BackoffOption',
      'BackoffPolicy',
      'BackoffSpec',
      'BaseJob',
      'BeforeRunContext',
      'BeforeRunHook',
      'CancelOutcome',
      'CheckContext',
      'CheckDependency',
      'CheckDependencyOptions',
      'CheckFunction',
      'CheckResult',
      'CommandFailedError',
      'ConcurrencyKey',
      'ConnectError',
      'ConnectOptions',
      'CreatesFileDependency',
      'CreatesFileOptions',
      'DEFAULT_MAX_ATTEMPTS',
      'DependencyContext',
      'DependencyCycleError',
      'DependencyDecision',
      'DependencyFailedError',
      'DependencyManager',
      'DependencyState',
      'DependencyUnresolvedError',
      'DispatchExpiredError',
      'DroverError',
      'DroverErrorContext',
      'DuplicateJobError',
      'DuplicateJobScopeError',
      'ErrorCode',
      'FINAL_STATES',
      'FINISHED_STATES',
      'GroupJob',
      'HistoryOptions',
      'HookWaitError',
      'InvalidArgumentError',
      'JOB_STATES',
      'JobAbortedError',
      'JobClass',
      'JobContext',
      'JobDocument',
      'JobEdgesDependency',
      'JobEdgesOptions',
      'JobErrorRecord',
      'JobEventInfo',
      'JobFields',
      'JobInfo',
      'JobLogLine',
      'JobNotFoundError',
      'JobOptions',
      'JobRetryInfo',
      'JobState',
      'JobStateError',
      'JobStatus',
      'JobTimeInfo',
      'JobTransactionOptions',
      'JobType',
      'JobTypeOptions',
      'JobVersionError',
      'LIVE_STATES',
      'LocalFileDependency',
      'LocalFileOptions',
      'LockLostError',
      'MalformedJobError',
      'MaxTimeExceededError',
      'NonRetryableError',
      'PayloadTooLargeError',
      'PayloadValueError',
      'PutOptions',
      'Queue',
      'QueueClosedError',
      'QueueEventMap',
      'QueueGroup',
      'QueueGroupOptions',
      'QueueNameMatch',
      'QueueNotFoundError',
      'QueueOptions',
      'QueueOptionsConflictError',
      'QueuePattern',
      'QueueStats',
      'QueueUpkeepOptions',
      'RateLimit',
      'Registry',
      'RetriesExhaustedError',
      'RetryHandlerOptions',
      'RetryableError',
      'RunHooksOptions',
      'SandboxCrashedError',
      'SandboxMode',
      'SandboxOptions',
      'SandboxOutOfMemoryError',
      'ScheduleSpec',
      'ScheduleWriteOptions',
      'ScheduledJobOptions',
      'Scheduler',
      'SchedulerOptions',
      'ScopeLockOptions',
      'ShellJob',
      'ShutdownError',
      'StoreError',
      'SubmitTimeRange',
      'TRANSITIONS',
      'TickReport',
      'TimeRange',
      'TimeRangeChunk',
      'TimeRangeChunkJob',
      'TimeRangeRequestInfo',
      'TimeRangeRequests',
      'TimeRangeRequestsOptions',
      'Transition',
      'TraceContext',
      'TransactionsUnsupportedError',
      'Type',
      'UnknownJobTypeError',
      'UnstorableResultError',
      'UpgradeFn',
      'UpsertResult',
      'WORKER_READY',
      'WaitTimeoutError',
      'WorkerQueue',
      'WorkerRecord',
      'WorkerState',
      'afterJobs',
      'always',
      'check',
      'createsFile',
      'defaultRegistry',
      'errorCodeOf',
      'localFile',
      'registerCheck',
      'splitTimeRange',
      'toError',
    ],
  },
  'drover/management': {
    source: 'lib/ops/management/index.ts',
    names: [
      'ActionOutcome',
      'ActionResult',
      'AttemptDetail',
      'BULK_LIMIT_DEFAULT',
      'BULK_LIMIT_MAX',
      'BULK_RETRY_STATES',
      'BulkOptions',
      'BulkResult',
      'Counts',
      'DeleteFinishedFilter',
      'FuseResult',
      'HISTORY_BUCKETS_MS',
      'HISTORY_POINTS_MAX',
      'HISTORY_POINTS_TARGET',
      'HISTORY_SINCE_MS_DEFAULT',
      'HISTORY_SINCE_MS_MAX',
      'History',
      'HistoryFigures',
      'HistoryPoint',
      'HistoryQuery',
      'HistorySeries',
      'JobAction',
      'JobDetail',
      'JobFilter',
      'JobPage',
      'JobSummary',
      'LIST_LIMIT_DEFAULT',
      'LIST_LIMIT_MAX',
      'Management',
      'ManagementOptions',
      'PRUNE_BATCH_SIZE_DEFAULT',
      'PRUNE_BATCH_SIZE_MAX',
      'PageOptions',
      'PruneOptions',
      'PruneResult',
      'RETENTION_MS_DEFAULT',
      'RateRow',
      'Rates',
      'RatesQuery',
      'ResolvedManagementOptions',
      'TotalStats',
      'TypeStats',
      'attemptDetail',
      'checkIdText',
      'checkState',
      'checkStates',
      'decodeCursor',
      'encodeCursor',
      'resolveManagementOptions',
    ],
  },
  'drover/dashboard': {
    source: 'lib/ops/dashboard/index.ts',
    names: [
      'ACTION_TOKEN_HEADER',
      'BULK_ACTIONS',
      'DASHBOARD_COOKIE',
      'DASHBOARD_HOST_DEFAULT',
      'DASHBOARD_PAGE_SIZE_DEFAULT',
      'DASHBOARD_PORT_DEFAULT',
      'DASHBOARD_REFRESH_MS_DEFAULT',
      'DASHBOARD_REFRESH_MS_MAX',
      'DASHBOARD_REFRESH_MS_MIN',
      'DashboardHandler',
      'DashboardOptions',
      'DashboardServer',
      'HISTORY_WINDOWS',
      'JOB_ACTIONS',
      'LOOPBACK_HOST_NAMES',
      'OverviewData',
      'QUEUE_ACTIONS',
      'QueueOverview',
      'Rate',
      'ResolvedDashboardOptions',
      'StartDashboardOptions',
      'THROUGHPUT_WINDOW_MS',
      'dashboardHandler',
      'resolveDashboardOptions',
      'startDashboard',
    ],
  },
  'drover/metrics': {
    source: 'lib/ops/metrics.ts',
    names: [
      'DroverMetrics',
      'METRICS_GAUGE_CACHE_MS_DEFAULT',
      'METRICS_GAUGE_CACHE_MS_MAX',
      'METRICS_PREFIX_DEFAULT',
      'MetricsOptions',
      'QUEUE_WAIT_BUCKETS_S_DEFAULT',
      'RUN_DURATION_BUCKETS_S_DEFAULT',
      'ResolvedMetricsOptions',
      'createMetrics',
      'resolveMetricsOptions',
    ],
  },
  'drover/testing': {
    source: 'lib/testing/index.ts',
    names: [
      'RunOutcome',
      'RunRecord',
      'TEST_MAX_RUNS_DEFAULT',
      'TestClock',
      'TestHarness',
      'TestHarnessOptions',
    ],
  },
};

/** Every name a module exports (re-exports followed), sorted. */
function exportedNames(program: ts.Program, file: string): string[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} is part of the program`);
  const symbol = checker.getSymbolAtLocation(source);
  assert.ok(symbol, `${file} is a module`);
  return checker
    .getExportsOfModule(symbol)
    .map((s) => s.name)
    .sort();
}

describe('public API', function () {
  this.timeout(60_000);
  const root = projectRoot();
  const files = Object.values(PUBLIC_API).map((e) => path.join(root, e.source));
  let program: ts.Program;
  before(() => {
    program = ts.createProgram(files, {
      strict: true,
      experimentalDecorators: true,
      skipLibCheck: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
    });
  });

  for (const [entry, { source, names }] of Object.entries(PUBLIC_API)) {
    it(`${entry} exports exactly its listed names`, () => {
      assert.deepEqual(exportedNames(program, path.join(root, source)), [...names].sort());
    });
  }

  it('declares each entry point in package.json exports, with its types', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
    };
    for (const [entry, { source }] of Object.entries(PUBLIC_API)) {
      const key = entry === 'drover' ? '.' : `./${entry.slice('drover/'.length)}`;
      const built = `./dist/${source.replace(/\.ts$/, '')}`;
      assert.deepEqual(pkg.exports[key], { types: `${built}.d.ts`, default: `${built}.js` }, key);
    }
  });

  it('names @opentelemetry/api (an optional peer) in no shipped declaration file', () => {
    const dir = path.join(root, 'dist', 'lib');
    const declarations = (readdirSync(dir, { recursive: true }) as string[]).filter((f) =>
      f.endsWith('.d.ts'),
    );
    assert.ok(declarations.length > 50, 'the build is there');
    for (const file of declarations) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      assert.doesNotMatch(text, /(from|import\()\s*['"]@opentelemetry\//, file);
    }
  });

  it('loads neither prom-client nor the dashboard with the main entry', () => {
    const before = new Set(Object.keys(require.cache));
    createRequire(__filename)(path.join(root, 'dist/lib/index.js'));
    const loaded = Object.keys(require.cache).filter((m) => !before.has(m));
    for (const m of loaded) {
      assert.ok(!m.includes(`${path.sep}prom-client${path.sep}`), `loaded ${m}`);
      assert.ok(!m.includes(`${path.sep}ops${path.sep}`), `loaded ${m}`);
    }
  });
});
