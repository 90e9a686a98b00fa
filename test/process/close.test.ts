/**
 * Closing a worker: once `group.close()` resolves, the pool's background loops (heartbeat,
 * reclaim, maintenance) have stopped, so the caller may close its MongoClient (as worker.ts does
 * and as `QueueGroup.close` itself does with a client it opened) without errors.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { QueueGroup } from '../../lib';
import { FAST, testLogger } from '../support/backends';
import { SleepJob } from '../support/jobs';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';

describe('closing a worker stops its background work before the client closes', function () {
  this.timeout(60_000);

  const dbName = uniqueDbName('close');

  after(async function () {
    this.timeout(20_000);
    await dropDatabase(dbName);
  });

  // Regression: close() once returned while a heartbeat or reclaim pass was still under way, so
  // closing the client right after it interrupted that pass ('client was closed' error events).
  it('emits no error when the client is closed right after group.close()', async function () {
    const errors: string[] = [];
    for (let i = 0; i < 20; i++) {
      const client = await MongoClient.connect(testUri());
      try {
        const store = new MongoJobStore(client.db(dbName), 'jobs');
        await store.init();
        // Timers as busy as allowed, so a reclaim or heartbeat is likely under way at close.
        const group = new QueueGroup(store, {
          defaults: { ...FAST, workers: 2, heartbeatMs: 10, reclaimEveryMs: 10 },
          logger: testLogger,
        });
        const queue = await group.get(`close-${i}`);
        queue.on('error', (err) => errors.push(`round ${i}: ${err.message}`));
        await queue.put(SleepJob.create({ ms: 5 }));
        await queue.start();
        await new Promise((r) => setTimeout(r, 20 + (i % 5) * 7));
        await group.close({ drainTimeoutMs: 1_000 });
      } finally {
        await client.close();
      }
    }
    // Anything still in flight fails now, on the closed clients.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(errors, [], 'no background error after close');
  });
});
