/**
 * The behaviour suite every queue implementation must pass (amboy's conformance idea): the same
 * tests, run by queues.test.ts against the MongoDB store and the in-memory store.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import {
  BaseJob,
  defaultRegistry,
  DuplicateJobError,
  InvalidArgumentError,
  LockLostError,
  PayloadTooLargeError,
  QueueGroup,
  type JobDocument,
} from '../../lib';
import { eventually, type Backend } from '../support/backends';
import {
  AddErrorJob,
  FailJob,
  FlakyJob,
  NoopJob,
  ProgressJob,
  SleepJob,
  VersionedJob,
  WaitForAbortJob,
  runLog,
} from '../support/jobs';

export function queueBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;

  before(async () => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    runLog.clear();
  });
  after(async () => backend.close());

  describe('put and get', () => {
    it('round-trips a typed job with its info', async () => {
      const q = await group.get('images');
      const job = SleepJob.create({ ms: 42 }, { id: 'job-1', priority: 3, maxTimeMs: 5000 });
      await q.put(job);
      const got = await q.get<SleepJob>('job-1');
      assert.ok(got instanceof SleepJob);
      assert.equal(got.ms, 42);
      assert.equal(got.priority, 3);
      assert.equal(got.timeInfo.maxTimeMs, 5000);
      assert.deepEqual(got.type, { name: 'test-sleep', version: 1 });
      assert.equal(got.retryInfo.baseJobId, 'job-1');
      assert.equal(got.status.modCount, 0);
      assert.equal(got.queue, 'images');
      assert.equal(await q.get('missing'), undefined);
    });

    it('rejects a duplicate ID with DuplicateJobError', async () => {
      const q = await group.get('q');
      await q.put(NoopJob.create({}, { id: 'dup' }));
      await assert.rejects(q.put(NoopJob.create({}, { id: 'dup' })), DuplicateJobError);
    });

    it('putMany stores every non-colliding job and names the collisions', async () => {
      const q = await group.get('q');
      await q.put(NoopJob.create({}, { id: 'b' }));
      const err = await q.putMany(['a', 'b', 'c'].map((id) => NoopJob.create({}, { id }))).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof DuplicateJobError);
      assert.deepEqual(err.duplicates, ['b']);
      assert.equal((await q.stats()).total, 3);
    });

    it('rejects invalid queue names, IDs and payloads and writes nothing', async () => {
      await assert.rejects(group.get('bad name!'), InvalidArgumentError);
      await assert.rejects(group.get('$where'), InvalidArgumentError);
      const q = await group.get('q');
      await assert.rejects(q.put(NoopJob.create({}, { id: '{"$gt":""}' })), InvalidArgumentError);
      await assert.rejects(q.put(NoopJob.create({}, { id: '' })), InvalidArgumentError);
      await assert.rejects(q.get('{"$ne":null}'), InvalidArgumentError);
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await assert.rejects(
        q.put(NoopJob.create({ tag: circular as unknown as string })),
        InvalidArgumentError,
      );
      await assert.rejects(
        q.put(NoopJob.create({ tag: (() => 1) as unknown as string })),
        InvalidArgumentError,
      );
      await assert.rejects(
        q.put(NoopJob.create({ tag: 10n as unknown as string })),
        InvalidArgumentError,
      );
      assert.equal((await q.stats()).total, 0);
    });

    it('rejects an oversized payload with PayloadTooLargeError', async () => {
      const q = await group.get('q');
      const job = NoopJob.create({ tag: 'x'.repeat(16 * 1024 * 1024) });
      await assert.rejects(q.put(job), PayloadTooLargeError);
      assert.equal((await q.stats()).total, 0);
    });

    it('upgrades an old payload version on load', async () => {
      const q = await group.get('q');
      const doc = toRaw(await docOf(q, VersionedJob.create({ fullName: 'x' }, { id: 'v1' })));
      doc.type.version = 1;
      doc.payload = { name: 'Ada' };
      await backend
        .store()
        .jobInsert([
          { ...doc, _id: 'v1-old', retryInfo: { ...doc.retryInfo, baseJobId: 'v1-old' } },
        ]);
      const got = await q.get<VersionedJob>('v1-old');
      assert.equal(got?.fullName, 'Ada');
    });
  });

  describe('running', () => {
    it('runs jobs to completion and counts them', async () => {
      const q = await group.get('work', { workers: 4 });
      await q.putMany(
        Array.from({ length: 20 }, (_, i) => SleepJob.create({ ms: 5 }, { id: `s${i}` })),
      );
      await q.start();
      await eventually('20 completed', async () => (await q.stats()).completed === 20);
      const done = await q.get<SleepJob>('s3');
      assert.equal(done?.result, 'slept 5');
      assert.equal(done?.status.completed, true);
      assert.equal(done?.status.progress, 100);
      assert.ok(
        done?.timeInfo.start && done.timeInfo.end && done.timeInfo.end >= done.timeInfo.start,
      );
      const results = [];
      for await (const r of q.results()) results.push(r.id);
      assert.equal(results.length, 20);
      assert.equal(runLog.records.length, 20);
    });

    it('claims higher priority first, then earliest due', async () => {
      const q = await group.get('prio', { workers: 1 });
      const now = Date.now();
      await q.putMany([
        SleepJob.create({ ms: 1 }, { id: 'low', priority: 0 }),
        SleepJob.create(
          { ms: 1 },
          { id: 'high-late', priority: 5, waitUntil: new Date(now - 1000) },
        ),
        SleepJob.create(
          { ms: 1 },
          { id: 'high-early', priority: 5, waitUntil: new Date(now - 5000) },
        ),
        SleepJob.create({ ms: 1 }, { id: 'mid', priority: 2 }),
      ]);
      await q.start();
      await eventually('all ran', () => runLog.records.length === 4);
      assert.deepEqual(
        runLog.records.map((r) => r.jobId),
        ['high-early', 'high-late', 'mid', 'low'],
      );
    });

    it('does not start a job before waitUntil', async () => {
      const q = await group.get('later');
      await q.put(SleepJob.create({ ms: 1 }, { id: 'later', delayMs: 400 }));
      await q.start();
      await delay(150);
      assert.equal((await q.getDocument('later'))?.state, 'pending');
      const doc = await q.waitFor('later');
      assert.equal(doc.state, 'completed');
      assert.ok(doc.timeInfo.start!.getTime() >= doc.timeInfo.waitUntil!.getTime());
    });

    it('records a missed dispatch deadline as expired, never deletes it', async () => {
      const q = await group.get('deadline');
      await q.put(SleepJob.create({ ms: 1 }, { id: 'late', dispatchBy: new Date(Date.now() - 1) }));
      await q.start();
      const doc = await q.waitFor('late');
      assert.equal(doc.state, 'expired');
      assert.equal(doc.status.errors[0].code, 'DROVER_DISPATCH_EXPIRED');
      assert.equal(runLog.records.length, 0);
    });

    it('aborts a job past maxTime through its signal and records the error', async () => {
      const q = await group.get('slow');
      await q.put(WaitForAbortJob.create({}, { id: 'slow', maxTimeMs: 100 }));
      await q.start();
      const doc = await q.waitFor('slow');
      assert.equal(doc.state, 'failed');
      assert.ok(doc.status.errors.some((e) => e.code === 'DROVER_MAX_TIME_EXCEEDED'));
    });

    it('records thrown and added errors as failed', async () => {
      const q = await group.get('fail');
      // Not retryable: the first failure is the last (a failure is retried by default).
      await q.putMany([
        FailJob.create({ message: 'bad input' }, { id: 'f1', retryable: false }),
        AddErrorJob.create({}, { id: 'f2', retryable: false }),
      ]);
      await q.start();
      const f1 = await q.waitFor('f1');
      const f2 = await q.waitFor('f2');
      assert.equal(f1.state, 'failed');
      assert.equal(f1.status.errors[0].message, 'bad input');
      assert.equal(f1.status.errCount, 1);
      assert.equal(f2.state, 'failed');
      const job = await q.get('f1');
      assert.equal(job?.error()?.message, 'bad input');
    });

    it('stores progress reported by the job', async () => {
      const q = await group.get('progress');
      const seen: number[] = [];
      q.on('progress', (e) => seen.push(e.progress));
      await q.put(ProgressJob.create({ steps: 4 }, { id: 'p' }));
      await q.start();
      await q.waitFor('p');
      assert.deepEqual(seen, [25, 50, 75, 100]);
      assert.equal((await q.getDocument('p'))?.status.progressMessage, 'step 4');
    });

    it('retries a retryable error as new attempts and keeps the history', async () => {
      const q = await group.get('flaky');
      await q.put(FlakyJob.create({ succeedOn: 2 }, { id: 'flaky' }));
      await q.start();
      await eventually(
        'attempt 2 completed',
        async () => (await q.getDocument('flaky'))?.state === 'completed',
      );
      const attempts = await q.getAllAttempts('flaky');
      assert.deepEqual(
        attempts.map((a) => a.id),
        ['flaky', 'flaky#1', 'flaky#2'],
      );
      assert.deepEqual(
        attempts.map((a) => a.retryInfo.currentAttempt),
        [0, 1, 2],
      );
      assert.equal((await q.getDocument('flaky#1'))?.state, 'retrying');
      assert.equal((await q.get('flaky'))?.id, 'flaky#2');
      assert.equal((await q.getAttempt('flaky', 0))?.status.errors[0].retryable, true);
    });

    it('quarantines an unknown type and a malformed document and keeps working', async () => {
      const q = await group.get('bad');
      const good = await docOf(q, NoopJob.create({}, { id: 'ok' }));
      const unknown = {
        ...toRaw(good),
        _id: 'unknown',
        type: { name: 'no-such-type', version: 1 },
      };
      unknown.retryInfo = { ...unknown.retryInfo, baseJobId: 'unknown' };
      const malformed = {
        ...toRaw(good),
        _id: 'malformed',
        status: 'garbage',
      } as unknown as JobDocument;
      await backend.store().jobInsert([unknown, malformed]);
      await q.put(NoopJob.create({}, { id: 'fine' }));
      const quarantined: string[] = [];
      q.on('quarantined', (e) => quarantined.push(e.jobId));
      await q.start();
      await eventually(
        'good job ran',
        async () => (await q.getDocument('fine'))?.state === 'completed',
      );
      await eventually('both quarantined', async () => (await q.stats()).quarantined === 2);
      const doc = await backend.store().jobGet('unknown');
      assert.equal(doc?.quarantine?.code, 'DROVER_UNKNOWN_JOB_TYPE');
      assert.deepEqual(quarantined.sort(), ['malformed', 'unknown']);
    });

    it('quarantines a version newer than the class', async () => {
      const q = await group.get('ver');
      const doc = toRaw(await docOf(q, VersionedJob.create({}, { id: 'future' })));
      doc.type.version = 9;
      await backend.store().jobInsert([doc]);
      await q.start();
      await eventually(
        'quarantined',
        async () => (await backend.store().jobGet('future'))?.state === 'quarantined',
      );
      assert.equal(
        (await backend.store().jobGet('future'))?.quarantine?.code,
        'DROVER_JOB_VERSION',
      );
    });
  });

  describe('locks and abort', () => {
    it('next/complete guard writes by owner and modification count', async () => {
      const q = await group.get('manual');
      await q.put(NoopJob.create({}, { id: 'm' }));
      const job = await q.next();
      assert.ok(job);
      assert.equal(job.status.owner, q.owner);
      const stale = { ...job.status };
      await q.save(job);
      await q.complete(job);
      assert.equal((await q.getDocument('m'))?.state, 'completed');
      job.status = stale;
      await assert.rejects(q.complete(job), LockLostError);
    });

    it('a worker that loses its lock aborts the job and records nothing', async () => {
      const a = await group.get('lost', { workers: 1 });
      const b = await backend.group().get('lost', { workers: 1 });
      const lost: string[] = [];
      let completions = 0;
      a.on('lock-lost', (e) => lost.push(e.jobId));
      for (const q of [a, b]) q.on('completed', () => completions++);
      await a.put(WaitForAbortJob.create({ maxMs: 300 }, { id: 'lost' }));
      await a.start();
      await eventually('running in a', () => a.isRunning('lost'));
      const first = await a.getDocument('lost');
      const n = await backend
        .store()
        .jobReclaimStale({ queue: 'lost', now: new Date(Date.now() + 60_000) });
      assert.equal(n, 1);
      await b.start();
      const doc = await b.waitFor('lost');
      await eventually('a saw the loss', () => lost.includes('lost'));
      assert.equal(doc.state, 'completed');
      assert.equal(completions, 1);
      assert.ok(doc.status.modCount > first!.status.modCount + 1, 'completed under a later claim');
      assert.ok(doc.status.errors.some((e) => e.code === 'DROVER_LOCK_LOST'));
    });

    it('fails an attempt whose workers keep dying instead of looping forever', async () => {
      const store = backend.store();
      const q = await group.get('poison', { maxLockLosses: 2 });
      await q.put(NoopJob.create({}, { id: 'poison' }));
      const later = (s: number) => new Date(Date.now() + s * 60_000);
      for (let i = 1; i <= 2; i++) {
        // A worker claims it and dies (no heartbeat): its lock goes stale.
        assert.equal(
          (
            await store.jobClaim({
              queue: 'poison',
              owner: `w${i}`,
              now: later(i),
              lockTimeoutMs: 1,
              limit: 1,
            })
          ).length,
          1,
        );
        assert.equal(
          await store.jobReclaimStale({ queue: 'poison', now: later(i + 0.5), maxLockLosses: 2 }),
          1,
        );
      }
      const doc = await store.jobGet('poison');
      assert.equal(doc?.state, 'failed');
      assert.equal(doc?.status.lockLosses, 2);
      assert.equal(doc?.status.errors.at(-1)?.retryable, false);
    });

    it('aborts a running job by ID from another group (another process) within a heartbeat', async () => {
      const worker = await group.get('abortable');
      await worker.put(WaitForAbortJob.create({}, { id: 'victim' }));
      await worker.start();
      await eventually('running', () => worker.isRunning('victim'));
      const other = backend.group();
      assert.equal(await other.abort('victim'), 'requested');
      const doc = await worker.waitFor('victim', { timeoutMs: 5000 });
      assert.equal(doc.state, 'aborted');
      assert.ok(doc.status.errors.some((e) => e.code === 'DROVER_ABORTED'));
    });

    it('aborts in-process at once, and a pending job before it starts', async () => {
      const q = await group.get('local');
      await q.putMany([
        WaitForAbortJob.create({}, { id: 'run' }),
        NoopJob.create({}, { id: 'wait', delayMs: 60_000 }),
      ]);
      await q.start();
      await eventually('running', () => q.isRunning('run'));
      assert.deepEqual(q.runningJobs(), ['run']);
      assert.equal(await group.abort('run'), 'requested');
      assert.equal((await q.waitFor('run')).state, 'aborted');
      assert.equal(await q.abort('wait'), 'aborted');
      assert.equal((await q.getDocument('wait'))?.state, 'aborted');
      assert.equal(await q.abort('nope'), 'not-found');
    });

    it('close drains running jobs, then aborts and releases the rest', async () => {
      const q = await group.get('drain', { workers: 2 });
      await q.putMany([
        SleepJob.create({ ms: 50 }, { id: 'quick' }),
        WaitForAbortJob.create({}, { id: 'forever' }),
      ]);
      await q.start();
      await eventually('both running', () => q.runningJobs().length === 2);
      await q.close({ drainTimeoutMs: 300 });
      assert.equal((await q.getDocument('quick'))?.state, 'completed');
      const released = await q.getDocument('forever');
      assert.equal(released?.state, 'pending');
      assert.equal(released?.status.owner, '');
      const other = await backend.group().get('drain');
      await other.start();
      await eventually('taken by another worker', () => other.isRunning('forever'));
    });
  });
}

async function docOf(q: { name: string }, job: BaseJob): Promise<JobDocument> {
  return defaultRegistry.toDocument(job, q.name, new Date());
}

function toRaw(doc: JobDocument): JobDocument {
  return structuredClone(doc);
}
