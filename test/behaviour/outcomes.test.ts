/**
 * Outcomes that are always right, against both backends: anything a job throws fails its
 * attempt once with a readable message; an attempt whose signal fired for an abort is recorded
 * `aborted` however run() ends; `maxTimeMs` holds even for a run that ignores its signal (the
 * slot is freed after the grace, the attempt is timed out and retried, its late outcome is
 * dropped), also beyond what one Node timer holds; results, state, stacks, logs.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import pino from 'pino';
import type { QueueGroupOptions } from '../../lib';
import { ERROR_MESSAGE_MAX_CHARS, ERROR_STACK_MAX_CHARS } from '../../lib/job/error-record';
import { JOB_LOG_MAX_LINES } from '../../lib/job/base-job';
import { Management } from '../../lib/ops/management';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, NoopJob } from '../support/jobs';
import {
  DeepStackJob,
  HangJob,
  HostileJob,
  hostileRuns,
  LongLimitJob,
  ResultJob,
  ReturnOnAbortJob,
  whenRunEnds,
  type Hostile,
} from '../support/semantics-jobs';

const DAY_MS = 24 * 3_600_000;

/** What each hostile value is recorded as. */
const HOSTILE: [Hostile, RegExp][] = [
  ['undefined', /^threw undefined/],
  ['null', /^threw null$/],
  ['symbol', /^threw a symbol: weird$/],
  ['string', /^a bare string$/],
  ['null-prototype', /^threw a non-Error value: \{"reason":"no prototype"\}$/],
  ['throwing-message', /^Error \(its message could not be read\)$/],
  ['throwing-proxy', /^threw a value that cannot be printed$/],
  ['reject-no-reason', /^threw undefined/],
  ['sync-throw', /^thrown before any await$/],
];

function outcomes(makeBackend: () => Backend): void {
  let backend: Backend;
  const group = (options: QueueGroupOptions = {}) => backend.groupWith(options);

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  describe('anything thrown', () => {
    it('fails the attempt once with a readable message, whatever was thrown', async () => {
      hostileRuns.length = 0;
      const q = await group().get('hostile', { workers: 4 });
      await q.putMany(
        HOSTILE.map(([kind]) => HostileJob.create({ kind }, { id: kind, retryable: false })),
      );
      await q.start();
      for (const [kind, message] of HOSTILE) {
        const doc = await q.waitFor(kind);
        assert.equal(doc.state, 'failed', kind);
        assert.equal(doc.status.errors.length, 1, `${kind}: one error`);
        assert.match(doc.status.errors[0].message, message, kind);
        assert.deepEqual(await q.getAllAttempts(kind).then((a) => a.length), 1, kind);
      }
      // Each ran once: recording never threw, so no lock expired and nothing ran again.
      assert.deepEqual([...hostileRuns].sort(), HOSTILE.map(([kind]) => kind).sort());
    });

    it('retries a hostile throw like any other failure', async () => {
      const q = await group().get('hostile-retry');
      await q.put(HostileJob.create({ kind: 'undefined' }, { id: 'u', maxAttempts: 3 }));
      await q.start();
      assert.equal((await q.waitFor('u')).state, 'failed');
      const attempts = await q.getAllAttempts('u');
      assert.deepEqual(
        attempts.map((a) => a.id),
        ['u', 'u#1', 'u#2'],
      );
      assert.ok(attempts.every((a) => a.retryInfo.currentAttempt < a.retryInfo.maxAttempts));
    });

    it('keeps a bounded stack and message with each error', async () => {
      const q = await group().get('stacks');
      await q.put(DeepStackJob.create({}, { id: 'deep', retryable: false }));
      await q.start();
      const [error] = (await q.waitFor('deep')).status.errors;
      assert.ok(error.stack, 'the stack is kept');
      assert.match(error.stack, /deep failure/);
      assert.ok(error.stack.length <= ERROR_STACK_MAX_CHARS, String(error.stack.length));
      assert.ok(error.message.length <= ERROR_MESSAGE_MAX_CHARS, String(error.message.length));
      assert.match(error.message, /^deep failure x+…$/);
    });

    it('logs one line at warn per failed attempt, with ID, type, attempt, error and stack', async () => {
      const lines: Record<string, unknown>[] = [];
      const logger = pino(
        { level: 'warn' },
        { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
      );
      const q = await group({ logger }).get('logged');
      await q.putMany([
        FailJob.create({ message: 'kaput' }, { id: 'bad', retryable: false }),
        NoopJob.create({}, { id: 'good' }),
      ]);
      await q.start();
      await q.waitFor('bad');
      await q.waitFor('good');
      const about = (id: string) => lines.filter((l) => l.jobId === id && l.level === 40);
      assert.equal(about('good').length, 0, 'a completed job logs no warning');
      const [line, ...more] = about('bad');
      assert.equal(more.length, 0, 'one line per failed attempt');
      assert.equal(line.type, 'test-fail');
      assert.equal(line.attempt, 0);
      assert.equal(line.error, 'kaput');
      assert.equal(line.state, 'failed');
      assert.match(String(line.stack), /^Error: kaput\n\s+at /);
      assert.equal(line.queue, 'logged');
    });
  });

  describe('aborts', () => {
    for (const throwUndefined of [false, true]) {
      it(`records aborted a run that ${throwUndefined ? 'throws undefined' : 'returns'} when its signal fires`, async () => {
        const q = await group().get('abort-return');
        await q.put(ReturnOnAbortJob.create({ throwUndefined }, { id: 'a' }));
        await q.start();
        await eventually('running', async () => (await q.getDocument('a'))?.state === 'running');
        assert.equal(await q.abort('a'), 'requested');
        const doc = await q.waitFor('a');
        assert.equal(doc.state, 'aborted');
        assert.deepEqual(
          doc.status.errors.map((e) => e.code),
          ['DROVER_ABORTED'],
        );
      });
    }

    it('gives up a run that ignores its abort after the grace, freeing its slot', async () => {
      const q = await group().get('abort-hang', { workers: 1, abortGraceMs: 100 });
      const ended = whenRunEnds('stuck');
      await q.put(HangJob.create({ ms: 3_000 }, { id: 'stuck' }));
      await q.start();
      await eventually('running', async () => (await q.getDocument('stuck'))?.state === 'running');
      await q.put(NoopJob.create({}, { id: 'next' }));
      await q.abort('stuck');
      assert.equal((await q.waitFor('stuck')).state, 'aborted');
      assert.equal((await q.waitFor('next')).state, 'completed', 'the slot was freed');
      await ended;
      const after = await q.getDocument('stuck');
      assert.equal(after?.state, 'aborted', 'the late return is dropped');
      assert.equal(after?.returnValue, undefined);
    });
  });

  describe('hard time limits', () => {
    it('times out a run that ignores its signal, frees its slot, retries it, drops its late outcome', async () => {
      const q = await group().get('hang', { workers: 1, abortGraceMs: 100 });
      const ends = [whenRunEnds('hang'), whenRunEnds('hang#1')];
      await q.putMany([
        HangJob.create({ ms: 2_500 }, { id: 'hang', maxTimeMs: 150, maxAttempts: 2 }),
        NoopJob.create({}, { id: 'mate' }),
      ]);
      await q.start();
      assert.equal((await q.waitFor('mate')).state, 'completed', 'a batch-mate completes');
      assert.equal((await q.waitFor('hang', { timeoutMs: 20_000 })).state, 'failed');
      const attempts = await Promise.all(['hang', 'hang#1'].map((id) => q.store.jobGet(id)));
      assert.deepEqual(
        attempts.map((d) => d?.state),
        ['retrying', 'failed'],
        'timed out, retried by the policy, timed out again',
      );
      for (const d of attempts) {
        assert.equal(d?.status.errors[0].code, 'DROVER_MAX_TIME_EXCEEDED');
        assert.deepEqual(
          d?.status.log?.map((l) => l.message),
          ['hanging, signal ignored'],
        );
      }
      await Promise.all(ends);
      const later = await Promise.all(['hang', 'hang#1'].map((id) => q.store.jobGet(id)));
      assert.deepEqual(
        later.map((d) => [d?.state, d?.status.modCount, d?.returnValue]),
        attempts.map((d) => [d?.state, d?.status.modCount, undefined]),
        'the late returns changed nothing',
      );
    });

    it('holds a 30-day maxTimeMs (beyond one Node timer) without aborting early', async () => {
      const q = await group().get('long-limit');
      await q.put(LongLimitJob.create({ ms: 150 }, { id: 'month', maxTimeMs: 30 * DAY_MS }));
      await q.start();
      const doc = await q.waitFor('month');
      assert.equal(doc.state, 'completed');
      assert.deepEqual(doc.returnValue, { aborted: false });
    });
  });

  describe('results, state and logs', () => {
    it('stores what run() returned; get, events and jobInfo show it, with the state', async () => {
      const q = await group().get('results');
      const completed: unknown[] = [];
      q.on('completed', (e) => completed.push({ id: e.id, jobId: e.jobId, value: e.returnValue }));
      const result = { url: 'https://x/y.png', size: 3, at: new Date('2026-01-02T03:04:05Z') };
      const job = ResultJob.create({ result }, { id: 'r' });
      assert.equal(job.state, 'pending');
      await q.put(job);
      assert.equal(job.state, 'pending');
      await q.start();
      await q.waitFor('r');
      const back = await q.get<ResultJob>('r');
      assert.equal(back?.state, 'completed');
      assert.deepEqual(back?.returnValue, result);
      assert.ok(back?.returnValue instanceof Object);
      assert.deepEqual(completed, [{ id: 'r', jobId: 'r', value: result }]);
      for await (const info of q.jobInfo()) {
        assert.equal(info.id, 'r');
        assert.deepEqual(info.returnValue, result);
      }
    });

    it('fails once, without a retry, a result that cannot be stored', async () => {
      const q = await group().get('bad-results');
      await q.putMany([
        ResultJob.create({ result: 'x'.repeat(2 * 1024 * 1024) }, { id: 'big' }),
        ResultJob.create({ make: 'regexp' }, { id: 'regexp' }),
        ResultJob.create({ make: 'instance' }, { id: 'instance' }),
      ]);
      await q.start();
      const why: Record<string, RegExp> = {
        big: /result is \d+ bytes; the limit is 1048576/,
        regexp: /result returnValue is a RegExp/,
        instance: /result returnValue is an instance of Money .*return plain data/,
      };
      for (const [id, message] of Object.entries(why)) {
        const doc = await q.waitFor(id);
        assert.equal(doc.state, 'failed', id);
        assert.equal(doc.status.errors[0].code, 'DROVER_UNSTORABLE_RESULT', id);
        assert.match(doc.status.errors[0].message, message, id);
        assert.equal((await q.getAllAttempts(id)).length, 1, `${id}: not retried`);
      }
    });

    it('keeps a job returned by a caller with its result (next/complete)', async () => {
      const q = await group().get('caller-result');
      await q.put(ResultJob.create({}, { id: 'c' }));
      const job = await q.next();
      assert.ok(job);
      assert.equal(job.state, 'running');
      job.returnValue = { done: true };
      await q.complete(job);
      const back = await q.get('c');
      assert.equal(back?.state, 'completed');
      assert.deepEqual(back?.returnValue, { done: true });
    });

    it('keeps the last lines of ctx.log() with the attempt', async () => {
      const q = await group().get('job-log');
      const lines = JOB_LOG_MAX_LINES + 50;
      await q.put(ResultJob.create({ lines }, { id: 'l' }));
      await q.start();
      const doc = await q.waitFor('l');
      const log = doc.status.log ?? [];
      assert.equal(log.length, JOB_LOG_MAX_LINES);
      assert.equal(log[0].message, 'line 50');
      assert.equal(log[log.length - 1].message, `line ${lines - 1}`);
      assert.ok(log.every((l) => l.at instanceof Date));
      assert.equal(doc.status.logDropped, 50);
    });

    it('leaves results and logs out of lists; the job detail has them', async () => {
      const g = group();
      const q = await g.get('lean-lists');
      await q.put(ResultJob.create({ result: { big: 'x'.repeat(1000) }, lines: 3 }, { id: 'r' }));
      await q.start();
      await q.waitFor('r');
      const m = new Management(g);
      const [row] = (await m.list({ queue: 'lean-lists' })).jobs;
      assert.equal(row.id, 'r');
      assert.equal(row.returnValue, undefined, 'no result in a list row');
      assert.equal(row.status.log, undefined, 'no log in a list row');
      assert.equal(row.status.logDropped, 0);
      const detail = await m.job('r');
      assert.deepEqual(detail?.latest.returnValue, { big: 'x'.repeat(1000) });
      assert.equal(detail?.latest.status.log?.length, 3);
    });
  });
}

describe('outcomes: in-memory', () => outcomes(memoryBackend));
describe('outcomes: MongoDB', () => outcomes(mongoBackend));
