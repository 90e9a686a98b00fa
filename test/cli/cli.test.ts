/**
 * The compiled `drover` CLI as a child process against the test server: JSON output of stats,
 * ls, show, abort and prune, and the exit codes (0 success, 1 failure, 2 bad input).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { emptyRollup } from '../../lib/store/rollup-store';
import { initStores, mongoStores, type Stores } from '../../lib/store/store-set';
import type { WorkerRecord } from '../../lib/store/worker-store';
import { daysAgo, makeDoc } from '../support/management-factory';
import { testUri, uniqueDbName } from '../support/server';

const MAIN = path.join(__dirname, '..', '..', 'lib', 'ops', 'cli', 'main.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('drover CLI', function () {
  // Each run starts a Node process and connects; the machine is slow.
  this.timeout(60_000);
  const db = uniqueDbName('cli');
  let client: MongoClient;
  let stores: Stores;

  /** Runs the CLI with `args`; `env` replaces MONGODB_URI and friends. */
  const drover = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> =>
    new Promise((resolve) => {
      const clean = { ...process.env };
      delete clean.MONGODB_URI;
      delete clean.DROVER_DB;
      execFile(
        process.execPath,
        [MAIN, ...args],
        { env: { ...clean, LOG_LEVEL: 'silent', ...env }, timeout: 50_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  const withDb = (...args: string[]) => drover(['--uri', testUri(), '--db', db, ...args]);
  const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;

  before(async () => {
    client = await MongoClient.connect(testUri());
    stores = mongoStores(client.db(db));
    await initStores(stores);
    const old = daysAgo(30);
    await stores.jobs.jobInsert([
      makeDoc({ id: 'img-1', queue: 'images' }),
      makeDoc({ id: 'img-2', queue: 'images' }),
      makeDoc({ id: 'img-3', queue: 'images', state: 'completed' }),
      makeDoc({ id: 'img-old', queue: 'images', state: 'completed', created: old }),
      makeDoc({
        id: 'mail-1',
        queue: 'mail',
        kind: 'fail',
        state: 'failed',
        created: old,
        concurrency: { key: 'smtp:eu', limit: 2 },
      }),
      makeDoc({ id: 'mail-2', queue: 'mail', state: 'running' }),
    ]);
  });
  after(async () => {
    await client.db(db).dropDatabase();
    await client.close();
  });

  it('prints help and exits 0', async () => {
    const run = await drover(['--help']);
    assert.equal(run.code, 0);
    for (const cmd of [
      'stats',
      'workers',
      'ls',
      'show',
      'abort',
      'retry',
      'complete',
      'prune',
      'wait',
    ]) {
      assert.match(run.stdout, new RegExp(`\\n  ${cmd}\\b`), cmd);
    }
  });

  it('stats --json gives counts by queue and totals', async () => {
    const run = await withDb('stats', '--json');
    assert.equal(run.code, 0, run.stderr);
    const stats = json<{
      queues: { queue: string; pending: number; running: number; total: number }[];
      totals: { total: number; failed: number; completed: number };
    }>(run);
    assert.deepEqual(
      stats.queues.map((q) => [q.queue, q.total, q.pending, q.running]),
      [
        ['images', 4, 2, 0],
        ['mail', 2, 0, 1],
      ],
    );
    assert.deepEqual([stats.totals.total, stats.totals.failed, stats.totals.completed], [6, 1, 2]);
    const human = await drover(['stats', '--db', db], { MONGODB_URI: testUri() });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^QUEUE\s+TOTAL\s+PENDING/m);
    assert.match(human.stdout, /^images\s+4\s+2\b/m);
  });

  it('workers lists live worker groups and their waiting state; stats sums them up', async () => {
    const now = Date.now();
    const record = (id: string, state: string, message: string): WorkerRecord => ({
      _id: id,
      host: 'box-1',
      pid: 4242,
      startedAt: new Date(now - 60_000),
      seenAt: new Date(now),
      expiresAt: new Date(now + 600_000),
      state,
      message,
      stateSince: state === 'ready' ? null : new Date(now - 5_000),
      queues: [{ name: 'images', owner: `${id}-pool`, workers: 4, running: 1 }],
    });
    await stores.workers.workerSave(record('box-1:4242:aaaa', 'ready', ''));
    await stores.workers.workerSave(record('box-1:4243:bbbb', 'auth-required', 'sign in again'));
    try {
      const run = await withDb('workers', '--json');
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        json<WorkerRecord[]>(run).map((w) => [w._id, w.state]),
        [
          ['box-1:4242:aaaa', 'ready'],
          ['box-1:4243:bbbb', 'auth-required'],
        ],
      );
      const human = await withDb('workers');
      assert.match(human.stdout, /auth-required: sign in again/);
      assert.match(human.stdout, /images 1\/4/);
      const stats = await withDb('stats');
      assert.match(
        stats.stdout,
        /^workers: 1 group\(s\) ready: 4 worker\(s\), 1 running; 1 group\(s\) auth-required/m,
      );
      const none = await withDb('workers', '--queue', 'mail');
      assert.equal(none.stdout.trim(), 'no live workers');
    } finally {
      await stores.workers.workerPrune(new Date(now + 3_600_000));
    }
  });

  it('ls --json filters and pages with a cursor', async () => {
    const first = await withDb('ls', '--queue', 'images', '--order', 'id', '-n', '3', '--json');
    assert.equal(first.code, 0, first.stderr);
    const page1 = json<{ jobs: { id: string; _id?: string }[]; nextCursor: string | null }>(first);
    assert.deepEqual(
      page1.jobs.map((j) => j.id),
      ['img-1', 'img-2', 'img-3'],
    );
    assert.ok(
      page1.jobs.every((j) => j._id === undefined),
      'one vocabulary: id, not the store _id',
    );
    assert.ok(page1.nextCursor);
    const second = await withDb('ls', '--queue', 'images', '--cursor', page1.nextCursor, '--json');
    const page2 = json<{ jobs: { id: string }[]; nextCursor: string | null }>(second);
    assert.deepEqual(
      page2.jobs.map((j) => j.id),
      ['img-old'],
    );
    assert.equal(page2.nextCursor, null);
    const failed = json<{ jobs: { id: string }[] }>(await withDb('ls', '-s', 'failed', '--json'));
    assert.deepEqual(
      failed.jobs.map((j) => j.id),
      ['mail-1'],
    );
    const bad = await withDb('ls', '--state', 'nonsense', '--json');
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.equal(JSON.parse(bad.stderr).error.code, 'DROVER_INVALID');
  });

  it('show prints one job in full, its concurrency key too; unknown and injected IDs fail', async () => {
    const run = await withDb('show', 'mail-1', '--json');
    assert.equal(run.code, 0, run.stderr);
    const detail = json<{
      id: string;
      state: string;
      latest: {
        id: string;
        _id?: string;
        payload: { message: string };
        concurrencyKey?: { key: string; limit: number };
      };
      attempts: { id: string; errors: { message: string }[] }[];
    }>(run);
    assert.equal(detail.id, 'mail-1');
    assert.deepEqual([detail.latest.id, detail.latest._id], ['mail-1', undefined]);
    assert.equal(detail.state, 'failed');
    assert.equal(detail.latest.payload.message, 'boom');
    assert.deepEqual(detail.latest.concurrencyKey, { key: 'smtp:eu', limit: 2 });
    assert.equal(detail.attempts[0].errors[0].message, 'failed here');
    const human = await withDb('show', 'mail-1');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^concurrency key\s+smtp:eu \(limit 2\)$/m);
    const plain = await withDb('show', 'img-2');
    assert.equal(plain.code, 0, plain.stderr);
    assert.doesNotMatch(plain.stdout, /concurrency key/, 'shown only when the job has one');
    const missing = await withDb('show', 'no-such-job', '--json');
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    const injected = await withDb('show', '{"$gt":""}');
    assert.equal(injected.code, 2);
    assert.match(injected.stderr, /invalid job ID/);
  });

  it('abort --json aborts a waiting job once, then reports the refusal with exit 1', async () => {
    const run = await withDb('abort', 'img-1', '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (({ outcome, changed, state }) => ({ outcome, changed, state }))(
        json<{ outcome: string; changed: number; state: string }>(run),
      ),
      { outcome: 'done', changed: 1, state: 'aborted' },
    );
    assert.equal((await stores.jobs.jobGet('img-1'))?.state, 'aborted');
    const again = await withDb('abort', 'img-1', '--json');
    assert.equal(again.code, 1);
    assert.equal(json<{ outcome: string }>(again).outcome, 'refused');
    const running = await withDb('abort', 'mail-2', '--json');
    assert.equal(json<{ outcome: string }>(running).outcome, 'requested');
    assert.equal((await withDb('abort', 'ghost')).code, 1);
  });

  it('prune --older-than deletes only old finished attempts', async () => {
    const run = await withDb('prune', '--older-than', '14d', '--json');
    assert.equal(run.code, 0, run.stderr);
    const res = json<{ changed: number; byQueue: Record<string, number> }>(run);
    assert.deepEqual([res.changed, res.byQueue], [2, { images: 1, mail: 1 }]);
    assert.equal(await stores.jobs.jobGet('img-old'), null);
    assert.equal(await stores.jobs.jobGet('mail-1'), null);
    assert.ok(await stores.jobs.jobGet('img-3'), 'recent completed job kept');
    const bad = await withDb('prune', '--older-than', 'soon');
    assert.equal(bad.code, 2);
  });

  it('stats --since prints the rates over a window from the rollups', async () => {
    const MIN = 60_000;
    const minute = Date.now() - (Date.now() % MIN);
    const at = (ago: number) => new Date(minute - ago);
    await stores.rollups.rollupAdd({
      retentionMs: 8 * 86_400_000,
      deltas: [
        {
          ...emptyRollup(),
          queue: 'images',
          type: 'resize',
          minute: at(5 * MIN),
          started: 12,
          completed: 10,
          failed: 2,
          waitSumMs: 1200,
          waitMaxMs: 400,
          runCount: 12,
          runSumMs: 2400,
          runMaxMs: 900,
        },
        {
          ...emptyRollup(),
          queue: 'images',
          type: 'thumb',
          minute: at(10 * MIN),
          started: 6,
          completed: 6,
        },
        // Three hours ago: in the day, not in the hour.
        {
          ...emptyRollup(),
          queue: 'mail',
          type: 'send',
          minute: at(180 * MIN),
          completed: 100,
          retried: 4,
        },
      ],
    });
    type Rates = {
      minutes: number;
      rows: {
        queue: string;
        type?: string;
        completed: number;
        failed: number;
        started: number;
        completedPerMin: number;
        waitAvgMs: number | null;
      }[];
      totals: { completed: number };
    };
    const hour = await withDb('stats', '--since', '1h', '--json');
    assert.equal(hour.code, 0, hour.stderr);
    const h = json<Rates>(hour);
    assert.deepEqual(
      h.rows.map((r) => [r.queue, r.started, r.completed, r.failed]),
      [['images', 18, 16, 2]],
    );
    assert.ok(h.minutes >= 60 && h.minutes < 61.5, String(h.minutes));
    assert.equal(h.rows[0].completedPerMin, 16 / h.minutes);
    assert.equal(h.rows[0].waitAvgMs, 1200 / 18);
    const day = json<Rates>(await withDb('stats', '--since', '1d', '--json'));
    assert.deepEqual(
      day.rows.map((r) => [r.queue, r.completed]),
      [
        ['images', 16],
        ['mail', 100],
      ],
    );
    const typed = json<Rates>(await withDb('stats', '--since', '1h', '--by-type', '--json'));
    assert.deepEqual(
      typed.rows.map((r) => [r.type, r.completed]),
      [
        ['resize', 10],
        ['thumb', 6],
      ],
    );
    const human = await withDb('stats', '--since', '1h');
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /^over the last 1h: \S+ to \S+ \(6\d\.\d min\), from the workers' rollups$/m,
    );
    assert.match(
      human.stdout,
      /^QUEUE\s+STARTED\s+COMPLETED\s+FAILED\s+RETRIED\s+ABORTED\s+DONE\/MIN/m,
    );
    assert.match(
      human.stdout,
      /^images\s+18\s+16\s+2\s+0\s+0\s+0\.2\d\s+0\.03\s+67ms\s+400ms\s+200ms\s+900ms$/m,
    );
    assert.match(human.stdout, /^all\s+18\s+16\b/m);
    assert.equal((await withDb('stats', '--since', 'an hour')).code, 2);
    assert.equal((await withDb('stats', '--since', '1h', '--type', '{"$gt":""}')).code, 2);
  });

  it('exits 2 on bad usage and on a missing URI', async () => {
    assert.equal((await drover(['stats'])).code, 2);
    assert.equal((await drover(['stats', '--nope'])).code, 2);
    assert.equal((await drover(['abort'])).code, 2);
    assert.equal((await withDb('--log-level', 'loud', 'stats')).code, 2);
  });
  it('ls shows the error a job failed with, not the retry handler\'s "no retry left"', async () => {
    const doc = makeDoc({ id: 'sms-1', queue: 'sms', kind: 'fail', state: 'failed' });
    doc.status.errors = [
      { message: 'gateway refused', code: 'Error', at: new Date(), retryable: true },
      {
        message: 'job sms-1: no retry left (3 attempts allowed)',
        code: 'DROVER_RETRIES_EXHAUSTED',
        at: new Date(),
        retryable: false,
      },
    ];
    await stores.jobs.jobInsert([doc]);
    const run = await withDb('ls', '--queue', 'sms');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^sms-1\s.*gateway refused$/m);
    assert.doesNotMatch(run.stdout, /no retry left/);
  });

  it('show prints the result, the log and the stack of the last error', async () => {
    const done = makeDoc({ id: 'res-1', queue: 'results', state: 'completed' });
    done.returnValue = { url: 'https://x/y.png', width: 200 };
    done.status.log = [
      { at: new Date('2026-01-01T00:00:00Z'), message: 'resizing' },
      { at: new Date('2026-01-01T00:00:01Z'), message: 'uploaded' },
    ];
    const bad = makeDoc({ id: 'res-2', queue: 'results', kind: 'fail', state: 'failed' });
    bad.status.errors[0].stack = 'Error: failed here\n    at resize (/app/resize.js:10:5)';
    await stores.jobs.jobInsert([done, bad]);
    const run = await withDb('show', 'res-1');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^result\n {2}\{\n {4}"url": "https:\/\/x\/y\.png",/m);
    assert.match(
      run.stdout,
      /^log\n {2}2026-01-01T00:00:00Z resizing\n {2}2026-01-01T00:00:01Z uploaded$/m,
    );
    const asJson = json<{ latest: { returnValue: unknown } }>(
      await withDb('show', 'res-1', '--json'),
    );
    assert.deepEqual(asJson.latest.returnValue, { url: 'https://x/y.png', width: 200 });
    const failed = await withDb('show', 'res-2');
    assert.match(failed.stdout, /^stack of the last error\n {2}Error: failed here\n {6}at resize/m);
  });

  it('refuses to pause, resume or wait on a queue that does not exist, creating nothing', async () => {
    for (const args of [
      ['pause', 'imagez'],
      ['resume', 'imagez'],
      ['wait', 'imagez'],
    ]) {
      const run = await withDb(...args, '--json');
      assert.equal(run.code, 1, args.join(' '));
      assert.equal(JSON.parse(run.stderr).error.code, 'DROVER_QUEUE_NOT_FOUND', args.join(' '));
    }
    assert.equal(await stores.queues.queueGet('imagez'), null, 'no queue record was created');
    const real = await withDb('pause', 'images', '--json');
    assert.equal(real.code, 0, real.stderr);
    assert.equal((await withDb('resume', 'images')).code, 0);
  });

  it('wait says it waits for delayed jobs, and --ignore-delayed does not wait for them', async () => {
    const later = makeDoc({
      id: 'later-1',
      queue: 'delayed',
      dueAt: new Date(Date.now() + 3600_000),
    });
    await stores.jobs.jobInsert([later]);
    const waiting = await withDb('wait', 'delayed', '--timeout', '300ms', '--interval', '50ms');
    assert.equal(waiting.code, 1, 'the delayed job is waited for: timeout');
    assert.match(waiting.stderr, /waiting also for 1 delayed job\(s\) not due yet/);
    const ignoring = await withDb('wait', 'delayed', '--ignore-delayed', '--interval', '50ms');
    assert.equal(ignoring.code, 0, ignoring.stderr);
    assert.doesNotMatch(ignoring.stderr, /delayed job/);
  });
});
