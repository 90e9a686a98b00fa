/**
 * The queue group against both backends: named queues created on demand and recorded, option
 * layers, discovery of queues created by another group (as another process would), pruning of
 * idle queues, and fuses (a paused queue or job type) obeyed across groups.
 */
import assert from 'node:assert/strict';
import {
  InvalidArgumentError,
  Queue,
  QueueClosedError,
  QueueOptionsConflictError,
  QueueGroup,
  type QueueGroupOptions,
} from '../../lib';
import {
  checkQueueOptionLayers,
  mergeQueueOptions,
  queueNameMatcher,
  recordableOptions,
} from '../../lib/group/queue-layers';
import type { QueueExtension } from '../../lib/extension';
import { memoryStores } from '../../lib/store/store-set';
import {
  FAST,
  eventually,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { NoopJob, SleepJob } from '../support/jobs';

describe('queue group options', () => {
  const layers = {
    defaults: { workers: 1, pollMaxMs: 100, heartbeatMs: 50 },
    patterns: [
      { match: 'emails.*', options: { workers: 2, pollMaxMs: 90 } },
      { match: /^emails\.v/, options: { workers: 3 } },
    ],
    queues: { 'emails.vip': { workers: 4, lockTimeoutMs: 5_000 } },
  };

  it('merges default < pattern (in order) < per-queue < call', () => {
    assert.deepEqual(mergeQueueOptions(layers, 'other'), layers.defaults);
    assert.deepEqual(mergeQueueOptions(layers, 'emails.bulk'), {
      workers: 2,
      pollMaxMs: 90,
      heartbeatMs: 50,
    });
    assert.deepEqual(mergeQueueOptions(layers, 'emails.vip'), {
      workers: 4,
      pollMaxMs: 90,
      heartbeatMs: 50,
      lockTimeoutMs: 5_000,
    });
    assert.deepEqual(mergeQueueOptions(layers, 'emails.vip', { workers: 9, heartbeatMs: 60 }), {
      workers: 9,
      pollMaxMs: 90,
      heartbeatMs: 60,
      lockTimeoutMs: 5_000,
    });
    assert.deepEqual(mergeQueueOptions({}, 'x', { workers: 2 }), { workers: 2 });
  });

  it('matches globs and regular expressions', () => {
    const glob = queueNameMatcher('emails.*');
    assert.ok(glob('emails.a') && glob('emails.a.b') && glob('emails.'));
    assert.ok(!glob('emails') && !glob('xemails.a') && !glob('emailsXa'));
    const one = queueNameMatcher('q?');
    assert.ok(one('q1') && !one('q12'));
    const re = queueNameMatcher(/^a-\d+$/g);
    assert.ok(re('a-1') && re('a-1'), 'a global flag does not make matching stateful');
    assert.throws(() => queueNameMatcher('' as string), InvalidArgumentError);
    assert.throws(() => queueNameMatcher(7 as unknown as string), InvalidArgumentError);
  });

  it('rejects bad layers at once', () => {
    assert.throws(
      () => checkQueueOptionLayers({ patterns: [{ match: 3 as unknown as string, options: {} }] }),
      InvalidArgumentError,
    );
    assert.throws(
      () => checkQueueOptionLayers({ queues: { 'bad name': {} } }),
      InvalidArgumentError,
    );
    assert.throws(
      () =>
        checkQueueOptionLayers({
          defaults: { lockTimeoutMs: 100 },
          queues: { q: { heartbeatMs: 90 } },
        }),
      InvalidArgumentError,
    );
    assert.throws(
      () => new QueueGroup(memoryStores(), { autoStart: 'yes' as unknown as boolean }),
      InvalidArgumentError,
    );
  });

  it('records only serializable options', () => {
    const recorded = recordableOptions({
      workers: 2,
      excludeTypes: ['a'],
      logger: testLogger,
      now: () => new Date(),
      nan: Number.NaN,
      $bad: 1,
      'a.b': 1,
    });
    assert.deepEqual(recorded, { workers: 2, excludeTypes: ['a'] });
  });
});

function groupBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  /** A group on the backend's current store, as another process would have. */
  const newGroup = (options: QueueGroupOptions = {}): QueueGroup => backend.groupWith(options);
  /** An extension counting maintenance passes; it runs after the fuses refreshed. */
  const probe = () => {
    const p = { passes: 0, ext: undefined as unknown as QueueExtension };
    p.ext = { name: 'probe', maintain: async () => void p.passes++ };
    return p;
  };

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  describe('named queues', () => {
    it('creates a queue on demand and records it', async () => {
      const group = newGroup();
      assert.equal(group.len(), 0);
      const [a, b] = await Promise.all([group.get('orders'), group.get('orders')]);
      assert.equal(a, b, 'concurrent gets share one instance');
      assert.equal(await group.get('orders'), a);
      assert.deepEqual(group.queues(), ['orders']);
      assert.equal(group.len(), 1);
      const info = await group.queueInfo('orders');
      assert.ok(info);
      assert.equal(info.name, 'orders');
      assert.equal(info.paused, false);
      assert.deepEqual(info.pausedTypes, []);
      assert.ok(info.created instanceof Date && info.lastActive >= info.created);
      assert.equal(info.options.lockTimeoutMs, FAST.lockTimeoutMs);
      assert.equal(info.options.logger, undefined);
      assert.equal(await group.queueInfo('missing'), undefined);
      await assert.rejects(group.get('bad name'), InvalidArgumentError);
    });

    it('gives a created queue the merged options and records them', async () => {
      const group = newGroup({
        defaults: { workers: 2 },
        patterns: [{ match: 'emails.*', options: { workers: 3, pollMaxMs: 40 } }],
        queues: { 'emails.vip': { workers: 5 } },
      });
      const vip = await group.get('emails.vip', { pollMaxMs: 30 });
      assert.equal(vip.options.workers, 5);
      assert.equal(vip.options.pollMaxMs, 30);
      assert.equal(vip.options.lockTimeoutMs, FAST.lockTimeoutMs);
      const bulk = await group.get('emails.bulk');
      assert.equal(bulk.options.workers, 3);
      assert.equal(bulk.options.pollMaxMs, 40);
      assert.equal((await group.get('other')).options.workers, 2);
      assert.equal((await group.queueInfo('emails.vip'))?.options.workers, 5);
      // Options given to a later get do not change an existing queue: differing ones are refused.
      await assert.rejects(group.get('emails.bulk', { workers: 9 }), QueueOptionsConflictError);
      assert.equal((await group.get('emails.bulk')).options.workers, 3);
    });

    it('registers an existing queue with put, counts it, and closes it with the group', async () => {
      const group = newGroup();
      const own = new Queue(backend.store(), 'mine', { ...FAST, logger: testLogger });
      await group.put('mine', own);
      await group.put('mine', own);
      assert.equal(group.len(), 1);
      assert.equal(await group.get('mine'), own);
      assert.ok(await group.queueInfo('mine'));
      await group.get('theirs');
      assert.deepEqual(group.queues().sort(), ['mine', 'theirs']);
      assert.equal(group.len(), 2);
      const other = new Queue(backend.store(), 'theirs', { ...FAST, logger: testLogger });
      await assert.rejects(group.put('theirs', other), InvalidArgumentError);
      await assert.rejects(group.put('renamed', other), InvalidArgumentError);
      await group.close();
      assert.equal(group.len(), 0);
      await assert.rejects(own.put(NoopJob.create({})), QueueClosedError);
      await assert.rejects(group.get('mine'), QueueClosedError);
    });
  });

  describe('discovery', () => {
    it('lists queues created by another group', async () => {
      const one = newGroup();
      const two = newGroup();
      await one.get('alpha');
      await two.get('beta');
      assert.deepEqual(two.queues(), ['beta']);
      assert.deepEqual(await two.discover(), ['alpha', 'beta']);
      assert.deepEqual(await one.discover(), ['alpha', 'beta']);
    });

    it('starts the matching queues another group creates and runs their jobs', async () => {
      const producer = newGroup();
      const worker = newGroup({ autoStart: ['jobs.*'], discoverEveryMs: 20 });
      const q = await producer.get('jobs.resize');
      await (await producer.get('other')).put(NoopJob.create({}, { id: 'other-1' }));
      await q.put(NoopJob.create({}, { id: 'resize-1' }));
      await eventually('the worker starts jobs.resize', () =>
        worker.queues().includes('jobs.resize'),
      );
      const done = await q.waitFor('resize-1', { timeoutMs: 10_000 });
      assert.equal(done.state, 'completed');
      assert.notEqual(done.status.owner, q.owner, 'run by the worker group, not the producer');
      assert.ok(!worker.queues().includes('other'));
      assert.ok((await worker.get('jobs.resize')).started);
      // A one-off pass finds nothing new.
      assert.deepEqual(await worker.startDiscovered(), []);
    });
  });

  describe('queue store', () => {
    it('opens, touches, pauses and lists records', async () => {
      const store = backend.stores().queues;
      const t0 = new Date('2030-01-01T00:00:00Z');
      const t1 = new Date(t0.getTime() + 1000);
      const opened = await store.queueOpen({ name: 'a', options: { workers: 2 }, now: t0 });
      assert.deepEqual(
        { ...opened, options: { ...opened.options } },
        {
          name: 'a',
          created: t0,
          lastActive: t0,
          paused: false,
          pausedAt: null,
          pausedTypes: [],
          options: { workers: 2 },
          modCount: 1,
          modTime: t0,
        },
      );
      assert.equal(await store.queueTouch({ name: 'a', now: t1 }), true);
      assert.equal(await store.queueTouch({ name: 'a', now: t0 }), true);
      assert.deepEqual((await store.queueGet('a'))?.lastActive, t1, 'never moves back');
      assert.equal(await store.queueTouch({ name: 'none', now: t1 }), false);
      const again = await store.queueOpen({ name: 'a', options: { workers: 3 }, now: t1 });
      assert.deepEqual(again.created, t0);
      assert.equal(again.options.workers, 3);
      assert.equal(again.modCount, 2);
      assert.equal(await store.queuePause({ name: 'b', paused: false, now: t0 }), null);
      assert.equal(
        await store.queuePauseType({ name: 'b', type: 't', paused: false, now: t0 }),
        null,
      );
      const typed = await store.queuePauseType({ name: 'c', type: 't', paused: true, now: t0 });
      assert.deepEqual(typed?.pausedTypes, ['t']);
      assert.equal(typed?.paused, false);
      await store.queuePauseType({ name: 'c', type: 't', paused: true, now: t0 });
      await store.queuePauseType({ name: 'c', type: 'u', paused: true, now: t0 });
      const less = await store.queuePauseType({ name: 'c', type: 't', paused: false, now: t1 });
      assert.deepEqual(less?.pausedTypes, ['u']);
      assert.equal(less?.modCount, 4);
      const paused = await store.queuePause({ name: 'd', paused: true, now: t1 });
      assert.deepEqual([paused?.paused, paused?.pausedAt, paused?.created], [true, t1, t1]);
      assert.deepEqual(
        (await store.queueList({ limit: 10 })).map((r) => r.name),
        ['a', 'c', 'd'],
      );
      assert.deepEqual(
        (await store.queueList({ after: 'a', limit: 1 })).map((r) => r.name),
        ['c'],
      );
    });

    it('records activity no more often than touchEveryMs', async () => {
      let now = new Date('2030-01-01T00:00:00Z');
      const group = newGroup({ touchEveryMs: 0, now: () => now });
      const q = await group.get('busy');
      assert.deepEqual((await group.queueInfo('busy'))?.lastActive, now);
      now = new Date(now.getTime() + 60_000);
      await q.put(NoopJob.create({}));
      const later = now;
      await eventually(
        'lastActive moves on',
        async () => (await group.queueInfo('busy'))?.lastActive.getTime() === later.getTime(),
      );
    });

    it('starts a discovered queue only when it has work or was recently active', async () => {
      const producer = newGroup();
      await producer.get('jobs.old');
      await producer.get('jobs.backlog');
      // An hour later as far as the worker can tell: neither record is recent.
      const worker = newGroup({
        autoStart: true,
        discoverEveryMs: 3_600_000,
        now: () => new Date(Date.now() + 3_600_000),
      });
      assert.deepEqual(await worker.startDiscovered(), []);
      await (await producer.get('jobs.backlog')).put(NoopJob.create({}, { id: 'b1' }));
      await eventually('the queue with work starts', async () => {
        await worker.startDiscovered();
        return worker.queues().includes('jobs.backlog');
      });
      assert.ok(!worker.queues().includes('jobs.old'));
      const held = await worker.get('jobs.backlog');
      assert.equal((await held.waitFor('b1')).state, 'completed');
    });
  });

  describe('pruning', () => {
    it('stops idle queues, keeps their documents, and re-creates them on get', async () => {
      const group = newGroup();
      const done = await group.get('done');
      await done.put(NoopJob.create({}, { id: 'd1' }));
      await done.start();
      await done.waitFor('d1');
      const waiting = await group.get('waiting');
      await waiting.put(NoopJob.create({}, { id: 'w1' }));
      await group.get('empty');
      assert.deepEqual(await group.prune({ idleMs: 3_600_000 }), [], 'not idle long enough');
      assert.deepEqual((await group.prune({ idleMs: 0 })).sort(), ['done', 'empty']);
      assert.deepEqual(group.queues(), ['waiting']);
      assert.equal(done.started, false);
      await assert.rejects(done.put(NoopJob.create({})), QueueClosedError);
      assert.equal((await backend.store().jobGet('d1'))?.state, 'completed');
      assert.ok(await group.queueInfo('done'), 'the record stays');
      const again = await group.get('done');
      assert.notEqual(again, done);
      assert.equal((await again.get('d1'))?.id, 'd1');
      assert.equal(group.len(), 2);
    });

    it('prunes on an interval when asked to', async () => {
      const group = newGroup({ pruneIdleMs: 0, pruneEveryMs: 20 });
      await group.get('short-lived');
      await eventually('the idle queue is pruned', () => group.len() === 0);
      assert.deepEqual(await group.discover(), ['short-lived']);
    });
  });

  describe('fuses', () => {
    it('holds a paused queue visibly across groups and runs it after resume', async () => {
      const admin = newGroup();
      const control = probe();
      const worker = newGroup({ extensions: [control.ext] });
      const q = await worker.get('mail');
      await q.start();
      const paused = await admin.pause('mail');
      assert.equal(paused.paused, true);
      assert.ok(paused.pausedAt instanceof Date);
      // Three maintenance passes in the worker after the pause: its fuse cache has been reloaded.
      const seen = control.passes;
      await eventually('the worker refreshed its fuses', () => control.passes >= seen + 3);
      const producer = await admin.get('mail');
      await producer.putMany([1, 2, 3].map((i) => NoopJob.create({}, { id: `m${i}` })));
      // A witness in the same worker: once it has run, the paused queue had time to claim.
      const side = await worker.get('side');
      await side.put(SleepJob.create({ ms: 300 }, { id: 'witness' }));
      await side.start();
      await side.waitFor('witness');
      const stats = await producer.stats();
      assert.equal(stats.pending, 3);
      assert.equal(stats.running + stats.completed, 0);
      assert.equal((await worker.queueInfo('mail'))?.paused, true);
      const resumed = await admin.resume('mail');
      assert.equal(resumed?.paused, false);
      assert.equal(resumed?.pausedAt, null);
      for (const id of ['m1', 'm2', 'm3']) {
        const doc = await q.waitFor(id, { timeoutMs: 10_000 });
        assert.equal(doc.state, 'completed');
        assert.equal(doc.status.owner, q.owner);
      }
    });

    it('a queue paused before it is opened claims nothing from the start', async () => {
      const group = newGroup();
      await group.pause('later');
      const q = await group.get('later');
      await q.put(NoopJob.create({}, { id: 'l1' }));
      await q.start();
      const side = await group.get('side');
      await side.put(SleepJob.create({ ms: 300 }, { id: 'witness' }));
      await side.start();
      await side.waitFor('witness');
      assert.equal((await q.stats()).pending, 1);
      await group.resume('later');
      assert.equal((await q.waitFor('l1')).state, 'completed');
      assert.equal(await group.resume('never-created'), undefined);
    });

    it('holds a paused job type while other types run', async () => {
      const admin = newGroup();
      const control = probe();
      const worker = newGroup({ extensions: [control.ext] });
      const q = await worker.get('mixed');
      await q.start();
      const rec = await admin.pauseType('mixed', 'test-sleep');
      assert.deepEqual(rec.pausedTypes, ['test-sleep']);
      assert.deepEqual((await admin.pauseType('mixed', 'test-sleep')).pausedTypes, ['test-sleep']);
      const seen = control.passes;
      await eventually('the worker refreshed its fuses', () => control.passes >= seen + 3);
      await q.put(SleepJob.create({ ms: 1 }, { id: 'sleepy' }));
      await q.putMany([1, 2, 3, 4].map((i) => NoopJob.create({}, { id: `n${i}` })));
      for (const id of ['n1', 'n2', 'n3', 'n4'])
        assert.equal((await q.waitFor(id)).state, 'completed');
      const side = await worker.get('side');
      await side.put(SleepJob.create({ ms: 300 }, { id: 'witness' }));
      await side.start();
      await side.waitFor('witness');
      assert.equal((await q.getDocument('sleepy'))?.state, 'pending');
      assert.equal((await q.stats()).pending, 1);
      const resumed = await admin.resumeType('mixed', 'test-sleep');
      assert.deepEqual(resumed?.pausedTypes, []);
      assert.equal((await q.waitFor('sleepy', { timeoutMs: 10_000 })).state, 'completed');
      await assert.rejects(admin.pauseType('mixed', '$bad'), InvalidArgumentError);
      await assert.rejects(admin.pause('bad name'), InvalidArgumentError);
    });
  });
}

describe('queue group: in-memory', () => groupBehaviour(memoryBackend));
describe('queue group: MongoDB', () => groupBehaviour(mongoBackend));
