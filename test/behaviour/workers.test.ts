/**
 * Worker presence against both backends: a group running pools is listed by every other group
 * (and the management API) with its queues, concurrency and running jobs; a `beforeRun` hook's
 * waiting state (`auth-required`) is visible from another process; a closed group leaves the list
 * at once, a dead one once its record expires.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  HookWaitError,
  InvalidArgumentError,
  QueueGroup,
  type QueueGroupOptions,
  type WorkerRecord,
} from '../../lib';
import { Management } from '../../lib/ops/management/management';
import { countWorkerStates } from '../../lib/store/worker-store';
import { WORKERS_DEFAULT } from '../../lib/queue/queue-options';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob, WaitForAbortJob } from '../support/jobs';

function workerBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  const group = (options: QueueGroupOptions = {}): QueueGroup => backend.groupWith(options);

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('lists groups running pools, with queues, owners and running jobs, in other groups', async () => {
    const worker = group({ presence: { everyMs: 50 } });
    const observer = group();
    const putOnly = group();
    await (await putOnly.get('work')).put(WaitForAbortJob.create({}, { id: 'long' }));
    assert.deepEqual(await observer.workers(), [], 'a group that only puts is no worker');

    const q = await worker.get('work', { workers: 3 });
    await q.start();
    await (await worker.get('other')).start();
    await eventually('long runs', () => q.isRunning('long'));
    let seen: WorkerRecord[] = [];
    await eventually('running job reported', async () => {
      seen = await observer.workers();
      return seen[0]?.queues.find((x) => x.name === 'work')?.running === 1;
    });
    assert.equal(seen.length, 1);
    const [w] = seen;
    assert.equal(w._id, worker.presence.id);
    assert.equal(w.pid, process.pid);
    assert.equal(w.state, 'ready');
    assert.equal(w.stateSince, null);
    assert.deepEqual(
      w.queues.map((x) => [x.name, x.owner, x.workers]),
      [
        ['work', q.owner, 3],
        ['other', (await worker.get('other')).owner, WORKERS_DEFAULT],
      ],
    );
    // The running job's owner leads to the group that runs it.
    assert.equal((await q.getDocument('long'))?.status.owner, w.queues[0].owner);
    assert.deepEqual(
      (await observer.workers({ queue: 'other' })).map((r) => r._id),
      [w._id],
    );
    assert.deepEqual(await observer.workers({ queue: 'nobody' }), []);
    await q.abort('long');
  });

  it('shows a waiting hook state to other processes, and ready again once it passes', async () => {
    let token = '';
    const worker = group({
      hooks: {
        beforeRun: [
          () => {
            if (!token) throw new HookWaitError('auth-required', 'token expired: sign in again');
          },
        ],
        retryMinMs: 20,
        retryMaxMs: 50,
      },
    });
    const management = new Management(backend.stores());
    const q = await worker.get('work');
    await q.put(NoopJob.create({}, { id: 'n1' }));
    await q.start();
    await eventually('waiting is visible elsewhere', async () => {
      const [w] = await management.workers();
      return w?.state === 'auth-required';
    });
    // The job the wait caught is released, and the record says so without a periodic write.
    await eventually(
      'the released job no longer counted',
      async () => (await management.workers())[0]?.queues[0]?.running === 0,
    );
    const [w] = await management.workers();
    assert.equal(w.message, 'token expired: sign in again');
    assert.ok(w.stateSince instanceof Date);
    assert.deepEqual(
      countWorkerStates([w]).map((c) => [c.state, c.groups]),
      [['auth-required', 1]],
    );
    token = 'fresh';
    await eventually('ready again', async () => (await management.workers())[0]?.state === 'ready');
    await q.waitFor('n1');
  });

  it('drops a closed group at once and a dead one once its record expires', async () => {
    const a = group();
    const b = group();
    await (await a.get('work')).start();
    await (await b.get('work')).start();
    await eventually('both listed', async () => (await a.workers()).length === 2);
    await b.close();
    assert.deepEqual(
      (await a.workers()).map((r) => r._id),
      [a.presence.id],
    );
    // A process killed without closing: its record stays until it expires, then is pruned.
    const dead: WorkerRecord = {
      _id: 'dead-host:1:abcdef01',
      host: 'dead-host',
      pid: 1,
      startedAt: new Date(Date.now() - 3_600_000),
      seenAt: new Date(Date.now() - 3_600_000),
      expiresAt: new Date(Date.now() - 3_000_000),
      state: 'ready',
      message: '',
      stateSince: null,
      queues: [{ name: 'work', owner: 'dead-host:1:abcdef02', workers: 1, running: 1 }],
    };
    const store = backend.stores().workers;
    await store.workerSave(dead);
    assert.deepEqual(
      (await a.workers()).map((r) => r._id),
      [a.presence.id],
    );
    await a.presence.refresh();
    assert.equal(await store.workerRemove(dead._id), false, 'pruned by the live group');
  });

  it('rejects a bad queue filter and bad presence options', async () => {
    const g = group();
    await assert.rejects(g.workers({ queue: '{"$ne": null}' }), InvalidArgumentError);
    assert.throws(() => group({ presence: { everyMs: -1 } }), InvalidArgumentError);
    assert.throws(() => group({ presence: { everyMs: 1000, ttlMs: 10 } }), InvalidArgumentError);
  });
}

describe('worker presence: in memory', () => workerBehaviour(memoryBackend));
describe('worker presence: MongoDB', () => workerBehaviour(mongoBackend));
