/**
 * One vocabulary, against both backends: `id` wherever a user reads a job or a request (events,
 * `jobInfo()`, management lists, time-range requests), `group.get` refusing options that differ
 * from the open queue's, and management actions refusing queues that do not exist.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  Backoff,
  defaultRegistry,
  QueueNotFoundError,
  QueueOptionsConflictError,
  type JobEventInfo,
} from '../../lib';
import { Management } from '../../lib/ops/management';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, NoopJob } from '../support/jobs';
import { ResultJob } from '../support/semantics-jobs';
import { RecordingChunk } from '../support/workload-jobs';

function vocabulary(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  describe('id', () => {
    it('names the job in events (jobId kept, deprecated), jobInfo and management lists', async () => {
      const g = backend.group();
      const q = await g.get('ids');
      const seen: [string, JobEventInfo][] = [];
      for (const event of ['claimed', 'completed', 'failed'] as const) {
        q.on(event, (e: JobEventInfo) => seen.push([event, e]));
      }
      await q.putMany([
        NoopJob.create({}, { id: 'ok' }),
        FailJob.create({}, { id: 'ko', retryable: false }),
      ]);
      await q.start();
      await q.waitFor('ok');
      await q.waitFor('ko');
      await eventually('events', () => seen.length >= 4);
      for (const [event, e] of seen) {
        assert.ok(e.id === 'ok' || e.id === 'ko', `${event} has id`);
        assert.equal(e.jobId, e.id, `${event}: the deprecated jobId is the same`);
      }
      const infos = [];
      for await (const info of q.jobInfo()) infos.push(info.id);
      assert.deepEqual(infos.sort(), ['ko', 'ok']);
      const page = await new Management(g).list({ queue: 'ids' }, { order: 'id' });
      assert.deepEqual(
        page.jobs.map((j) => j.id),
        ['ko', 'ok'],
      );
    });

    it("names the job in a follower's events, and its completed event carries the result", async () => {
      const runner = backend.group();
      const follower = backend.group().follow({ queue: 'followed', pollMs: 20 });
      const completed: unknown[] = [];
      follower.on('completed', (e) => completed.push([e.id, e.jobId, e.returnValue]));
      const q = await runner.get('followed');
      await q.put(ResultJob.create({ result: { n: 1 } }, { id: 'f' }));
      await q.start();
      await eventually('followed', () => completed.length > 0);
      assert.deepEqual(completed, [['f', 'f', { n: 1 }]]);
    });

    it('names a time-range request: submit() returns { id }, cancel(req.id) works', async () => {
      const g = backend.groupWith({ timeRanges: { reconcileEveryMs: 50 } });
      const req = await g.timeRanges.submit({
        name: 'cpu.load',
        queue: 'backfill',
        chunkClass: RecordingChunk,
        earliest: new Date('2024-03-01T00:00:00Z'),
        latest: new Date('2024-03-03T00:00:00Z'),
        chunkMs: 24 * 3_600_000,
        fields: { search: 'index=main' },
      });
      assert.equal(typeof req.id, 'string');
      assert.ok(!('_id' in req), 'no store field in what users read');
      assert.equal((await g.timeRanges.get(req.id))?.id, req.id);
      assert.equal(await g.timeRanges.cancel(req.id), 'cancelled');
    });
  });

  describe('group.get', () => {
    it('refuses options that differ from the open queue’s, accepts the same or none', async () => {
      const g = backend.group();
      const q = await g.get('opts', { workers: 2, retryBackoff: Backoff.fixed(500) });
      assert.equal(await g.get('opts'), q);
      assert.equal(await g.get('opts', { workers: 2 }), q);
      assert.equal(await g.get('opts', { retryBackoff: Backoff.fixed(500) }), q);
      await assert.rejects(
        g.get('opts', { workers: 16 }),
        (e: unknown) =>
          e instanceof QueueOptionsConflictError &&
          e.option === 'workers' &&
          /open with workers 2; asked for 16/.test(e.message),
      );
      await assert.rejects(
        g.get('opts', { retryBackoff: 700 }),
        (e: unknown) => e instanceof QueueOptionsConflictError && e.option === 'retryBackoff',
      );
      assert.equal(q.options.workers, 2, 'the open queue is unchanged');
    });

    it('refuses differing options of two gets racing to open one queue', async () => {
      const g = backend.group();
      const [a, b] = await Promise.allSettled([
        g.get('race', { workers: 1 }),
        g.get('race', { workers: 3 }),
      ]);
      assert.equal(a.status, 'fulfilled');
      assert.equal(b.status, 'rejected');
      assert.ok(b.status === 'rejected' && b.reason instanceof QueueOptionsConflictError);
    });
  });

  describe('queues that do not exist', () => {
    it('are refused by management pause, resume and prune, which create nothing', async () => {
      const g = backend.group();
      const m = new Management(g);
      await (await g.get('real')).put(NoopJob.create({}, { id: 'n' }));
      for (const action of [
        () => m.pause('reall'),
        () => m.pause('reall', { type: 'test-noop' }),
        () => m.resume('reall'),
        () => m.prune({ queue: 'reall' }),
      ]) {
        await assert.rejects(action(), QueueNotFoundError);
      }
      assert.equal(await g.queueInfo('reall'), undefined, 'no queue record was created');
      assert.equal((await m.pause('real')).paused, true);
      assert.equal((await m.resume('real')).paused, false);
    });

    it('are found when they hold jobs but have no record', async () => {
      const m = new Management(backend.stores());
      const orphan = NoopJob.create({}, { id: 'orphan' });
      await backend.store().jobInsert([defaultRegistry.toDocument(orphan, 'bare', new Date())]);
      assert.equal(await m.queueExists('bare'), true);
      assert.equal((await m.pause('bare')).paused, true);
    });
  });
}

describe('vocabulary: in-memory', () => vocabulary(memoryBackend));
describe('vocabulary: MongoDB', () => vocabulary(mongoBackend));
