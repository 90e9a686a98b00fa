/**
 * Rate limits against both backends: two groups (as two processes) running one limited queue
 * never claim more than `max` jobs in one window between them, and get through all the work;
 * claims granted but not used are given back; a queue outside a group holds its limit alone;
 * bad limits are rejected.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { InvalidArgumentError, Queue, QueueGroup, type RateLimit } from '../../lib';
import { rateWindow } from '../../lib/limits/rate-limit';
import { resolveQueueOptions } from '../../lib/queue/queue-options';
import { FAST, eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob } from '../support/jobs';

function rateBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  /** Claims per window, from each attempt's recorded start (the time its claim was granted at). */
  async function claimsPerWindow(group: QueueGroup, queue: string, limit: RateLimit) {
    const byWindow = new Map<number, number>();
    for await (const info of (await group.get(queue)).jobInfo()) {
      const start = info.timeInfo.start;
      assert.ok(start, `${info._id} started`);
      const w = rateWindow(limit, start).start.getTime();
      byWindow.set(w, (byWindow.get(w) ?? 0) + 1);
    }
    return byWindow;
  }

  it('two processes claim at most max per window between them, and finish the work', async () => {
    const limit = { max: 4, perMs: 400 };
    const [a, b] = [backend.group({ rateLimit: limit }), backend.group({ rateLimit: limit })];
    const [qa, qb] = [await a.get('limited'), await b.get('limited')];
    await qa.putMany(Array.from({ length: 20 }, (_, i) => NoopJob.create({}, { id: `r-${i}` })));
    await Promise.all([qa.start(), qb.start()]);
    await eventually('20 completed', async () => (await qa.stats()).completed === 20, 30_000);
    const windows = await claimsPerWindow(a, 'limited', limit);
    const counts = [...windows.values()];
    assert.equal(
      counts.reduce((s, n) => s + n, 0),
      20,
    );
    assert.ok(
      counts.every((n) => n <= limit.max),
      `claims per window: ${counts.join(', ')}`,
    );
    assert.ok(windows.size >= 5, `20 jobs at 4 per window need 5 windows, got ${windows.size}`);
  });

  it('gives back claims granted but not used', async () => {
    // One window for the whole test: what was not given back would be lost for an hour.
    const limit = { max: 3, perMs: 3_600_000 };
    const g = backend.group({ rateLimit: limit, workers: 8 });
    const q = await g.get('refund');
    await q.put(NoopJob.create({}, { id: 'first' }));
    await q.start();
    await q.waitFor('first');
    const rates = backend.stores().rates;
    // The pool asked for its 8 free slots, was granted 3, claimed 1 and gave 2 back.
    await eventually(
      'unused claims given back',
      async () => (await rates.rateGet('refund'))?.count === 1,
    );
    await q.putMany([NoopJob.create({}, { id: 'second' }), NoopJob.create({}, { id: 'third' })]);
    await q.waitFor('second');
    await q.waitFor('third');
    assert.equal((await rates.rateGet('refund'))?.count, 3);
    // The window is spent: a fourth job waits for the next one (an hour away).
    await q.put(NoopJob.create({}, { id: 'fourth' }));
    await eventually(
      'the pool polled again',
      async () => (await rates.rateGet('refund'))?.count === 3,
    );
    assert.equal((await q.getDocument('fourth'))?.state, 'pending');
  });

  it('holds the limit of a queue outside a group in its own process', async () => {
    const limit = { max: 2, perMs: 3_600_000 };
    const q = new Queue(backend.store(), 'solo-limited', { ...FAST, rateLimit: limit });
    try {
      await q.putMany(Array.from({ length: 3 }, (_, i) => NoopJob.create({}, { id: `s-${i}` })));
      await q.start();
      await eventually('2 completed', async () => (await q.stats()).completed === 2);
      assert.equal((await q.stats()).pending, 1, 'the third waits for the next window');
    } finally {
      await q.close();
    }
  });

  it('never grants more than max to concurrent takers, across a window change', async () => {
    const rates = backend.stores().rates;
    const [w1, w2] = [new Date(1_000_000), new Date(1_001_000)];
    const take = (windowStart: Date, want: number) =>
      rates.rateTake({ id: 'race', windowStart, max: 10, want });
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => take(w1, 1 + (i % 3))));
    const sum = (ns: number[]) => ns.reduce((s, n) => s + n, 0);
    assert.ok(sum(first) <= 10 && sum(first) > 0, `granted ${sum(first)} of 10`);
    assert.equal((await rates.rateGet('race'))?.count, sum(first));
    // Late takers of the old window and early ones of the new, at once.
    const mixed = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? take(w2, 2) : take(w1, 2))),
    );
    const doc = await rates.rateGet('race');
    assert.equal(doc?.windowStart.getTime(), w2.getTime());
    const inW2 = sum(mixed.filter((_, i) => i % 2 === 1));
    assert.ok(inW2 <= 10, `granted ${inW2} of 10 in the new window`);
    assert.ok((doc?.count ?? 0) <= 10);
    // Once the new window counts, the old one grants nothing.
    assert.equal(await take(w1, 1), 0);
  });

  it('rejects bad limits with InvalidArgumentError', () => {
    for (const rateLimit of [
      { max: 0, perMs: 1000 },
      { max: 1.5, perMs: 1000 },
      { max: 10, perMs: 0 },
      { max: 10 },
      'fast',
      [],
      { max: '$gt', perMs: 1000 },
    ]) {
      assert.throws(
        () => resolveQueueOptions({ rateLimit: rateLimit as unknown as RateLimit }),
        InvalidArgumentError,
        JSON.stringify(rateLimit),
      );
    }
    assert.equal(resolveQueueOptions({}).rateLimit, null);
    assert.deepEqual(resolveQueueOptions({ rateLimit: { max: 5, perMs: 1000 } }).rateLimit, {
      max: 5,
      perMs: 1000,
    });
  });
}

describe('rate limits: in memory', () => rateBehaviour(memoryBackend));
describe('rate limits: MongoDB', () => rateBehaviour(mongoBackend));
