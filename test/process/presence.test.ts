/**
 * Worker presence across processes: two worker processes are listed by a third (the parent,
 * which runs no pool) with their pids and queues; a process killed with SIGKILL drops out once
 * its record expires, with nothing to clean up; one closed gracefully drops out at once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { Management } from '../../lib';
import { initStores, mongoStores, type Stores } from '../../lib/stores';
import { eventually } from '../support/backends';
import { forkWorker } from '../support/fork';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';
import { WorkerHandle } from './harness';
import { SCOPE_WORKER_CONFIG_ENV, type ScopeWorkerConfig } from './scope-worker';

describe('multi-process: worker presence', function () {
  this.timeout(60_000);

  const dbName = uniqueDbName('presence_process');
  const prefix = 'pr';
  /** A record lives 1.5 s without a write; a live process rewrites it every 300 ms. */
  const presence = { everyMs: 300, ttlMs: 1_500 };
  let client: MongoClient;
  let stores: Stores;
  const workers: WorkerHandle[] = [];

  function spawn(): WorkerHandle {
    const config: ScopeWorkerConfig = {
      uri: testUri(),
      db: dbName,
      prefix,
      queue: 'work',
      workers: 2,
      lockTimeoutMs: 5_000,
      heartbeatMs: 500,
      presence,
    };
    const handle = new WorkerHandle(
      forkWorker(path.join(__dirname, 'scope-worker.js'), SCOPE_WORKER_CONFIG_ENV, config),
    );
    workers.push(handle);
    return handle;
  }

  before(async () => {
    client = await MongoClient.connect(testUri());
    stores = mongoStores(client.db(dbName), { prefix });
    await initStores(stores);
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(workers.map((w) => w.close(1_000).catch(() => undefined)));
    await Promise.all(workers.map((w) => w.kill9()));
    await client?.close();
    await dropDatabase(dbName);
  });

  it('lists live processes, drops a killed one after its expiry and a closed one at once', async () => {
    const management = new Management(stores);
    const pids = async () => (await management.workers()).map((w) => w.pid).sort();
    const [victim, survivor] = [spawn(), spawn()];
    await eventually('both ready', () => victim.ready && survivor.ready, 30_000);
    const expected = [victim.pid, survivor.pid].sort();
    await eventually('both listed', async () => (await pids()).join() === expected.join());
    for (const w of await management.workers()) {
      assert.deepEqual(
        w.queues.map((q) => [q.name, q.workers]),
        [['work', 2]],
      );
      assert.equal(w.state, 'ready');
    }

    await victim.kill9();
    const killedAt = Date.now();
    // Only the record's expiry tells a dead process from a slow one: nobody deletes it.
    await eventually('the killed process dropped out', async () => {
      return (await pids()).join() === String(survivor.pid);
    });
    const goneAfterMs = Date.now() - killedAt;
    console.log(
      `      killed process dropped out of the list ${goneAfterMs} ms after the kill ` +
        `(ttl ${presence.ttlMs} ms)`,
    );

    await survivor.close();
    assert.ok(survivor.closed, 'closed gracefully');
    assert.deepEqual(await pids(), [], 'a closed process removes its record');
  });
});
