/**
 * A queue event listener that throws once must not kill the pool's claim loop. The loop emits
 * `idle` outside any try: the throw rejects the loop's promise (an unhandled rejection, which
 * ends a default Node process), no job of the queue is claimed again, and `close()` (which awaits
 * the loop) rejects before it clears the heartbeat and reclaim timers. Both backends.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { QueueGroup } from '../../lib';
import {
  FAST,
  eventually,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { NoopJob } from '../support/jobs';

function listenerThrow(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup | undefined;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  // Mocha's own handler turns an unhandled rejection into a failure elsewhere; keep it ours.
  let mochaHandlers: NodeJS.UnhandledRejectionListener[] = [];

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    unhandled.length = 0;
    mochaHandlers = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(async () => {
    // A dead loop makes close() reject; the test has reported that already.
    await group?.close({ drainTimeoutMs: 200 }).catch(() => undefined);
    group = undefined;
    process.off('unhandledRejection', onUnhandled);
    for (const h of mochaHandlers) process.on('unhandledRejection', h);
  });
  after(async () => backend.close());

  it('an idle listener that throws once does not stop the claim loop', async () => {
    group = new QueueGroup(backend.stores(), { defaults: FAST, logger: testLogger });
    const q = await group.get('listener');
    let thrown = 0;
    q.on('idle', () => {
      if (thrown++ === 0) throw new Error('a listener bug');
    });
    await q.start();
    await eventually('the listener threw', () => thrown > 0);

    await q.put(NoopJob.create({ tag: 'after' }, { id: 'lt-1' }));
    let state: string | undefined;
    await eventually(
      'lt-1 completed (the claim loop still runs)',
      async () => (state = (await q.getDocument('lt-1'))?.state) === 'completed',
      5_000,
    ).catch(() => undefined);
    assert.deepEqual(
      unhandled.map((r) => String(r)),
      [],
      'the claim loop rejected: an unhandled rejection',
    );
    assert.equal(state, 'completed', 'no job is claimed any more: the claim loop died');
  });
}

describe('review: listener errors (memory)', () => listenerThrow(memoryBackend));
describe('review: listener errors (mongodb)', () => listenerThrow(mongoBackend));
