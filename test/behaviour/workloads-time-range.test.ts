/**
 * Chunked time-range requests (the backfill seed) against both backends: newest chunk first,
 * per-chunk retries, a concurrency key on every chunk, a request failed by a chunk out of retries
 * (or not), cancellation from another process, adoption after a restart with every chunk run
 * exactly once, and pruning.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { FULL_COUNT_MAX_CHUNKS, type TimeRangeEvent } from '../../lib/time-ranges/time-range-sync';
import {
  InvalidArgumentError,
  QueueGroup,
  splitTimeRange,
  type QueueGroupOptions,
} from '../../lib';
import { chunkJobId } from '../../lib/time-ranges/time-range-job';
import { FAST, eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { RecordingChunk, chunkLog } from '../support/workload-jobs';

const DAY = 24 * 3_600_000;
const T0 = new Date('2024-03-01T00:00:00Z');
/** Six chunks: five whole days and half a day (the newest, chunk 1). */
const RANGE = { earliest: T0, latest: new Date(T0.getTime() + 5.5 * DAY) };

describe('splitTimeRange', () => {
  it('covers the range exactly, newest first, aligned on earliest', () => {
    const chunks = splitTimeRange(RANGE, DAY);
    assert.equal(chunks.length, 6);
    assert.deepEqual(
      chunks.map((c) => c.num),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(chunks[0].latest.getTime(), RANGE.latest.getTime());
    assert.equal(chunks[0].latest.getTime() - chunks[0].earliest.getTime(), DAY / 2);
    assert.equal(chunks[5].earliest.getTime(), T0.getTime());
    for (let i = 1; i < chunks.length; i++) {
      assert.equal(chunks[i].latest.getTime(), chunks[i - 1].earliest.getTime(), 'no gap');
    }
    assert.throws(() => splitTimeRange({ earliest: T0, latest: T0 }, DAY));
    assert.throws(() => splitTimeRange(RANGE, 0));
    assert.equal(chunkJobId('r', 3, 12), 'r/03');
  });
});

function timeRangeBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  /** A group as another process would have it, with fast request maintenance. */
  const group = (options: QueueGroupOptions = {}): QueueGroup =>
    backend.groupWith({ timeRanges: { reconcileEveryMs: 50 }, ...options });
  const submit = (g: QueueGroup, fields: Partial<RecordingChunk> = {}, extra = {}) =>
    g.timeRanges.submit({
      id: 'req-1',
      name: 'cpu.load',
      queue: 'backfill',
      chunkClass: RecordingChunk,
      earliest: RANGE.earliest,
      latest: RANGE.latest,
      chunkMs: DAY,
      fields: { search: 'index=main', ...fields },
      chunkOptions: { maxAttempts: 3 },
      ...extra,
    });

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    chunkLog.clear();
  });
  after(async () => backend.close());

  it('runs the chunks newest first, each once, and reports a readable message', async () => {
    const g = group({ defaults: { ...FAST, workers: 1 } });
    const events: string[] = [];
    let done: TimeRangeEvent | undefined;
    g.timeRanges.on('started', () => events.push('started'));
    g.timeRanges.on('done', (e) => (done = e));
    const submitted = await submit(g);
    assert.equal(submitted.state, 'pending');
    assert.equal(submitted.total, 6);
    assert.deepEqual(submitted.counts, { total: 6, done: 0, failed: 0, running: 0, waiting: 6 });
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.equal(info.progress, 1);
    assert.deepEqual(info.counts, { total: 6, done: 6, failed: 0, running: 0, waiting: 0 });
    assert.ok(info.started && info.finished && info.finished >= info.started);
    assert.deepEqual(
      chunkLog.completed.map((r) => r.chunk),
      [1, 2, 3, 4, 5, 6],
      'newest chunk first',
    );
    const starts = chunkLog.completed.map((r) => r.earliest);
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
    );
    assert.deepEqual([...chunkLog.completions().values()], [1, 1, 1, 1, 1, 1]);
    await eventually('done event', () => done !== undefined);
    assert.deepEqual(events, ['started']);
    assert.match(
      done?.message ?? '',
      /^backfill of cpu\.load for 2024-03-01 00:00:00 to 2024-03-06 12:00:00 completed in \d+ minutes?$/,
    );
    assert.equal(info.message, done?.message);
    const chunk = await (await g.get('backfill')).get<RecordingChunk>('req-1/1');
    assert.equal(chunk?.search, 'index=main', 'request fields reach every chunk');
  });

  it('retries a chunk on its own attempts', async () => {
    const g = group({ defaults: { ...FAST, workers: 2 } });
    await submit(g, { flakyChunks: [2], failAttempts: 2 });
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.equal(chunkLog.started.filter((r) => r.chunk === 2).length, 3);
    assert.deepEqual([...chunkLog.completions().values()], [1, 1, 1, 1, 1, 1]);
    const attempts = await (await g.get('backfill')).getAllAttempts('req-1/2');
    assert.deepEqual(
      attempts.map((a) => a.status.errCount > 0),
      [true, true, false],
    );
  });

  it('gives every chunk, and every retry of one, the concurrency key of chunkOptions', async () => {
    const g = group({ defaults: { ...FAST, workers: 3 } });
    const concurrency = { key: 'backfill:cpu.load', limit: 1 };
    await submit(
      g,
      { flakyChunks: [2], failAttempts: 2 },
      { chunkOptions: { maxAttempts: 3, concurrency } },
    );
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    const docs = await backend.store().jobList({ queue: 'backfill', limit: 100 });
    assert.equal(docs.length, 8, 'six chunks and two retries of chunk 2');
    for (const doc of docs) assert.deepEqual(doc.concurrencyKey, concurrency, doc._id);
    assert.deepEqual([...chunkLog.completions().values()], [1, 1, 1, 1, 1, 1]);
  });

  it('fails the request when a chunk runs out of retries, and aborts the rest', async () => {
    const g = group({ defaults: { ...FAST, workers: 1 } });
    let failed: TimeRangeEvent | undefined;
    g.timeRanges.on('failed', (e) => (failed = e));
    await submit(g, { brokenChunks: [2] }, { chunkOptions: { maxAttempts: 2 } });
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'failed');
    assert.match(
      info.message ?? '',
      /^backfill of cpu\.load for .* failed: chunk 2 of 6 \(2024-03-05 00:00:00 to 2024-03-06 00:00:00\) failed: .*chunk 2 is broken/,
    );
    await eventually('failed event', () => failed !== undefined);
    assert.equal(failed?.message, info.message);
    await eventually(
      'request settled',
      async () => (await g.timeRanges.get('req-1'))?.settled === true,
    );
    // The retry of chunk 2 goes before older chunks once due; one may have run meanwhile.
    const q = await g.get('backfill');
    const started = new Set(chunkLog.started.map((r) => r.chunk));
    let aborted = 0;
    for (const n of [1, 3, 4, 5, 6]) {
      const state = (await q.getDocument(`req-1/${n}`))?.state;
      if (state === 'aborted') {
        aborted++;
        assert.ok(!started.has(n), `aborted chunk ${n} never ran`);
      } else {
        assert.equal(state, 'completed', `chunk ${n}`);
      }
    }
    assert.ok(aborted >= 2, `${aborted} chunks aborted`);
    assert.equal((await q.getDocument('req-1/2'))?.state, 'failed');
  });

  it('goes on past a failed chunk with continueOnChunkFailure', async () => {
    const g = group({ defaults: { ...FAST, workers: 2 } });
    await submit(
      g,
      { brokenChunks: [3] },
      { chunkOptions: { maxAttempts: 2 }, continueOnChunkFailure: true },
    );
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.deepEqual(info.counts, { total: 6, done: 5, failed: 1, running: 0, waiting: 0 });
    assert.match(info.message ?? '', /completed in \d+ minutes? \(1 of 6 chunks failed\)$/);
  });

  it('is cancelled from another process: running chunks aborted, the rest never run', async () => {
    const runner = group({ defaults: { ...FAST, workers: 2 } });
    const other = group();
    let cancelled: TimeRangeEvent | undefined;
    other.timeRanges.on('cancelled', (e) => (cancelled = e));
    await submit(runner, { hang: true });
    await (await runner.get('backfill')).start();
    await eventually('two chunks running', () => chunkLog.started.length === 2);
    assert.equal(await other.timeRanges.cancel('req-1'), 'cancelled');
    assert.equal(await other.timeRanges.cancel('req-1'), 'finished');
    assert.equal(await other.timeRanges.cancel('nope'), 'not-found');
    const q = await runner.get('backfill');
    await eventually(
      'every chunk aborted',
      async () => {
        const states = await Promise.all(
          [1, 2, 3, 4, 5, 6].map(async (n) => (await q.getDocument(`req-1/${n}`))?.state),
        );
        return states.every((s) => s === 'aborted');
      },
      15_000,
    );
    const info = await runner.timeRanges.get('req-1');
    assert.equal(info?.state, 'cancelled');
    assert.match(
      cancelled?.message ?? '',
      /^backfill of cpu\.load for .* cancelled after 0 of 6 chunks$/,
    );
    assert.equal(chunkLog.started.length, 2);
    assert.equal(chunkLog.completed.length, 0);
    assert.deepEqual((await q.stats()).running, 0);
  });

  it('is adopted after a restart: nothing redone, nothing skipped', async () => {
    const first = group({ defaults: { ...FAST, workers: 1 } });
    await submit(first, { ms: 40 }, {});
    await (await first.get('backfill')).start();
    await eventually('three chunks done', () => chunkLog.completed.length >= 3);
    // The first process goes away mid-request (letting its running chunk finish).
    await first.close({ drainTimeoutMs: 5_000 });
    const doneBefore = chunkLog.completed.length;
    assert.ok(doneBefore < 6, 'the request was cut short');
    assert.equal((await first.timeRanges.get('req-1'))?.state, 'running');

    const second = group({ defaults: { ...FAST, workers: 2 } });
    assert.deepEqual(await second.timeRanges.adopt(), ['req-1']);
    const info = await second.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    const completions = chunkLog.completions();
    assert.equal(completions.size, 6, 'every chunk ran');
    assert.ok(
      [...completions.values()].every((n) => n === 1),
      'no chunk ran twice',
    );
    assert.deepEqual(await second.timeRanges.adopt(), [], 'nothing left to adopt');
  });

  it('reclaims a chunk left running by a dead process and runs it once', async () => {
    const first = group();
    await submit(first);
    // A process claimed the newest chunk and died: its lock expires.
    const [claimed] = await backend.store().jobClaim({
      queue: 'backfill',
      owner: 'dead-process',
      now: new Date(),
      lockTimeoutMs: 1,
      limit: 1,
    });
    assert.equal(claimed._id, 'req-1/1');
    await first.close();
    const second = group();
    await second.timeRanges.adopt();
    const info = await second.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.equal(chunkLog.completions().get('req-1/1'), 1);
    assert.equal(chunkLog.completions().size, 6);
  });

  it('finishes a submit cut short by a crash (chunks missing, request still new)', async () => {
    const first = group();
    await submit(first);
    // As if the process died after putting some chunks: two are missing, the request is new.
    const store = backend.store();
    for (const n of [5, 6]) {
      const doc = await store.jobGet(`req-1/${n}`);
      assert.ok(
        doc &&
          (await store.jobDelete({
            id: doc._id,
            modCount: doc.status.modCount,
            from: ['pending'],
          })),
      );
    }
    await backend.stores().requests.requestTransition({
      id: 'req-1',
      from: ['pending'],
      update: { state: 'new' },
      now: new Date(),
    });
    assert.equal((await first.timeRanges.get('req-1'))?.counts.waiting, 6);
    await first.close();
    const second = group();
    assert.deepEqual(await second.timeRanges.adopt(), ['req-1']);
    const info = await second.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.equal(chunkLog.completions().size, 6);
  });

  it('settles a request of many chunks (past the full-count threshold)', async () => {
    const g = group({ defaults: { ...FAST, workers: 8 } });
    const total = FULL_COUNT_MAX_CHUNKS + 20;
    await submit(
      g,
      { ms: 0 },
      { latest: new Date(T0.getTime() + total * 60_000), chunkMs: 60_000 },
    );
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 60_000 });
    assert.equal(info.state, 'done');
    assert.equal(info.counts.done, total);
    assert.equal(chunkLog.completions().size, total);
  });

  it('prunes finished requests after the history age', async () => {
    const g = group({ timeRanges: { historyMs: 14 * DAY, reconcileEveryMs: 50 } });
    await submit(g);
    await (await g.get('backfill')).start();
    const info = await g.timeRanges.waitFor('req-1', { timeoutMs: 20_000 });
    assert.equal(info.state, 'done');
    assert.equal(await g.timeRanges.prune(new Date()), 0);
    assert.equal(await g.timeRanges.prune(new Date(Date.now() + 13 * DAY)), 0);
    assert.equal(await g.timeRanges.prune(new Date(Date.now() + 15 * DAY)), 1);
    assert.equal(await g.timeRanges.get('req-1'), undefined);
  });

  it('rejects bad requests before writing anything', async () => {
    const g = group();
    await assert.rejects(submit(g, {}, { latest: T0 }), /latest must be after earliest/);
    await assert.rejects(submit(g, {}, { id: 'a/b' }), /must not contain/);
    await assert.rejects(submit(g, {}, { chunkMs: 0 }), /chunkMs/);
    await assert.rejects(submit(g, {}, { name: '' }), /name/);
    await assert.rejects(
      submit(g, {}, { chunkOptions: { concurrency: { key: 'k', limit: 0 } } }),
      InvalidArgumentError,
    );
    assert.deepEqual(await g.timeRanges.list(), []);
  });
}

describe('time-range requests (memory)', () => timeRangeBehaviour(memoryBackend));
describe('time-range requests (mongodb)', () => timeRangeBehaviour(mongoBackend));
