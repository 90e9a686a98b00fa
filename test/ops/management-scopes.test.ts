/**
 * Singleton jobs (enqueue scopes) run again. Regressions: the management actions `retry` and
 * `requeue` used to make the new attempt without the job's enqueue scopes, and of two racing
 * `retryNow` calls the loser gave back the scope lock the winner relied on; either way a second
 * job holding the same singleton scope could be put and both ran. Now every new attempt takes
 * the scopes again, as a put would, and a loser gives back only its own acquisition. Both
 * backends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { QueueGroup, type BaseJob, type JobDocument } from '../../lib';
import type { QueueExtension } from '../../lib/extension';
import { Management } from '../../lib/ops/management';
import {
  FAST,
  eventually,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { FailJob, NoopJob } from '../support/jobs';
import { deferred } from '../support/races';

function managementScopes(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  /** Runs `job` (a singleton of scope `only`) to its end in a pool that is then closed. */
  async function runToEnd(queue: string, job: BaseJob, state: string): Promise<void> {
    const q = await backend.group().get(queue);
    assert.equal(await q.putUnique(job), true);
    await q.start();
    assert.equal((await q.waitFor(job.id)).state, state);
    // Its enqueue scope is given back once the runner has recorded the end.
    const scopes = backend.stores().scopes;
    await eventually(
      'scope released',
      async () => (await scopes.scopeList({ queue })).length === 0,
    );
    await q.close();
  }

  /** Whether a second singleton of scope `only` can be put into `queue` now. */
  async function secondSingletonAccepted(queue: string): Promise<boolean> {
    const q = await backend.group().get(queue); // never started: the new attempt stays pending
    return q.putUnique(
      NoopJob.create({ tag: 'other' }, { id: `${queue}-other`, enqueueScopes: ['only'] }),
    );
  }

  it('retry of a failed singleton takes its enqueue scope again', async () => {
    await runToEnd(
      'ms-retry',
      FailJob.create({}, { id: 'single-f', enqueueScopes: ['only'], retryable: false }),
      'failed',
    );
    const res = await new Management(backend.stores()).retry('single-f');
    assert.equal(res.outcome, 'done');
    assert.equal((await backend.store().jobGet('single-f#1'))?.state, 'pending');
    assert.equal(
      await secondSingletonAccepted('ms-retry'),
      false,
      'single-f#1 is queued, yet another job holding its singleton scope was accepted',
    );
  });

  it('requeue of a completed singleton takes its enqueue scope again', async () => {
    await runToEnd(
      'ms-requeue',
      NoopJob.create({}, { id: 'single-c', enqueueScopes: ['only'] }),
      'completed',
    );
    const res = await new Management(backend.stores()).requeue('single-c');
    assert.equal(res.outcome, 'done');
    assert.equal((await backend.store().jobGet('single-c#1'))?.state, 'pending');
    assert.equal(
      await secondSingletonAccepted('ms-requeue'),
      false,
      'single-c#1 is queued, yet another job holding its singleton scope was accepted',
    );
  });

  it("of two racing retryNow calls, the loser does not release the winner's scope", async () => {
    await runToEnd(
      'rn-race',
      FailJob.create({}, { id: 'single-r', enqueueScopes: ['only'], retryable: false }),
      'failed',
    );
    // Holds the first retryNow after its reserve (the scope lock is taken), before its write.
    const reserved = deferred();
    const go = deferred();
    let armed = true;
    const gate: QueueExtension = {
      name: 'review-reserve-gate',
      async beforeInsert(_queue: string, docs: JobDocument[]) {
        if (!armed || docs[0]?.retryInfo.baseJobId !== 'single-r') return;
        armed = false;
        reserved.resolve();
        await go.promise;
      },
    };
    const group = new QueueGroup(backend.stores(), {
      defaults: FAST,
      logger: testLogger,
      extensions: [gate],
    });
    try {
      const q = await group.get('rn-race');
      const first = q.retryNow('single-r');
      await reserved.promise;
      assert.equal(await q.retryNow('single-r'), 'single-r#1', 'the second call wins');
      go.resolve();
      assert.equal(await first, 'single-r#1', 'the first call sees the same new attempt');
    } finally {
      await group.close();
    }
    const locks = await backend.stores().scopes.scopeList({ queue: 'rn-race' });
    assert.deepEqual(
      locks.map((l) => l.holder),
      ['single-r'],
      'single-r#1 is queued but its singleton scope lock was released',
    );
    assert.equal(await secondSingletonAccepted('rn-race'), false);
  });
}

describe('review: management keeps singletons (memory)', () => managementScopes(memoryBackend));
describe('review: management keeps singletons (mongodb)', () => managementScopes(mongoBackend));
