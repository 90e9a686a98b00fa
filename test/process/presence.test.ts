/**
 * Worker presence across processes: two worker processes are listed by a third (the parent,
 * which runs no pool) with their pids and queues; a process killed with SIGKILL drops out once
 * its record expires, with nothing to clean up; one closed gracefully drops out at once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Management } from '../../lib/ops/management/management';
import { eventually } from '../support/backends';
import { SharedDeployment } from './deployment';

describe('multi-process: worker presence', function () {
  this.timeout(60_000);

  const deployment = new SharedDeployment('presence_process', 'pr');
  /** A record lives 1.5 s without a write; a live process rewrites it every 300 ms. */
  const presence = { everyMs: 300, ttlMs: 1_500 };
  const spawn = () =>
    deployment.spawn({
      queue: 'work',
      workers: 2,
      lockTimeoutMs: 5_000,
      heartbeatMs: 500,
      presence,
    });

  before(async () => deployment.open());

  after(async function () {
    this.timeout(30_000);
    await deployment.close();
  });

  it('lists live processes, drops a killed one after its expiry and a closed one at once', async () => {
    const management = new Management(deployment.stores);
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
