/**
 * Closing a queue while jobs run, against both stores: jobs that finish within the drain timeout
 * complete; the others are aborted when it ends and released for any worker, their dispatch
 * scopes given back; nothing is left claimed. A job that ignores its abort signal cannot hold
 * `close` up for longer than a bounded grace, and another worker takes it over once its lock
 * expires.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { JobInfo, QueueGroup } from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { ChaosGateJob, chaosAudit, chaosGates } from '../support/chaos-jobs';

const BACKENDS = [
  ['memory', memoryBackend],
  ['mongodb', mongoBackend],
] as const;

for (const [name, makeBackend] of BACKENDS) {
  describe(`chaos: closing a queue while jobs run (${name})`, function () {
    this.timeout(30_000);
    let backend: Backend;
    let group: QueueGroup;

    before(() => {
      backend = makeBackend();
    });
    beforeEach(async () => {
      await backend.reset();
      group = backend.group();
      chaosAudit.clear();
      chaosGates.clear();
    });
    after(async () => backend.close());

    const infos = async (name: string): Promise<JobInfo[]> => {
      const out: JobInfo[] = [];
      for await (const info of (await group.get(name)).jobInfo()) out.push(info);
      return out;
    };

    it('drains, then aborts and releases what is left; nothing stays claimed', async function () {
      const q = await group.get('drain');
      await q.putMany([
        ChaosGateJob.create({ gate: 'soon' }, { id: 'finishes-1', scopes: ['a'] }),
        ChaosGateJob.create({ gate: 'soon' }, { id: 'finishes-2' }),
        ChaosGateJob.create({ gate: 'never' }, { id: 'released-1', scopes: ['b'] }),
        ChaosGateJob.create({ gate: 'never' }, { id: 'released-2', scopes: ['c'] }),
      ]);
      await q.start();
      await eventually('four jobs running', () => q.runningJobs().length === 4);
      const closing = q.close({ drainTimeoutMs: 800 });
      // Within the drain: the jobs that can finish do.
      setTimeout(() => chaosGates.add('soon'), 200);
      const started = Date.now();
      await closing;
      assert.ok(Date.now() - started < 5_000, 'close is bounded by the drain and a grace');
      const byId = new Map((await infos('drain')).map((d) => [d._id, d]));
      assert.equal(byId.get('finishes-1')?.state, 'completed');
      assert.equal(byId.get('finishes-2')?.state, 'completed');
      for (const id of ['released-1', 'released-2']) {
        const doc = byId.get(id);
        assert.equal(doc?.state, 'pending', `${id} is released`);
        assert.equal(doc?.status.owner, '', `${id} has no owner`);
        assert.equal(doc?.status.inProgress, false);
      }
      assert.deepEqual(
        [...byId.values()].filter((d) => d.state === 'running').map((d) => d._id),
        [],
        'nothing left running',
      );
      const locks = await backend.stores().scopes.scopeList({ queue: 'drain' });
      assert.deepEqual(
        locks.map((l) => l.scope),
        [],
        'every scope lock given back',
      );
      // The released jobs run elsewhere once the gate opens.
      chaosGates.add('never');
      const other = await backend.group().get('drain');
      await other.start();
      await eventually(
        'the released jobs completed elsewhere',
        async () => (await other.stats()).completed === 4,
      );
    });

    it('does not wait for a job that ignores its signal; its lock expires and it runs elsewhere', async function () {
      const lockTimeoutMs = 600;
      const q = await group.get('stubborn');
      await q.put(ChaosGateJob.create({ gate: 'late', ignoreSignal: true }, { id: 'stubborn' }));
      await q.start();
      await eventually('the job runs', () => q.runningJobs().length === 1);
      const started = Date.now();
      await q.close({ drainTimeoutMs: 300 });
      // The drain, then a grace of max(1 s, two heartbeats) for aborted jobs to stop.
      assert.ok(Date.now() - started < 4_000, `close took ${Date.now() - started} ms`);
      const other = await backend.group().get('stubborn');
      await other.start();
      const startBy = (owner: string) =>
        chaosAudit.records.find((r) => r.kind === 'start' && r.owner === owner);
      await eventually('the other worker runs it', () => startBy(other.owner) !== undefined);
      const taken = startBy(other.owner)?.at ?? 0;
      assert.ok(taken - started >= lockTimeoutMs - 100, 'not before the lock expired');
      // Both runs end now; only the other worker's outcome is recorded.
      chaosGates.add('late');
      const doc = await other.waitFor('stubborn', { timeoutMs: 20_000 });
      assert.equal(doc.state, 'completed');
      assert.equal(doc.status.owner, other.owner, 'completed by the other worker');
    });
  });
}
