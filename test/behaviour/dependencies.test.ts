/**
 * Enforced dependencies, against both backends: blocked jobs are held back and dispatched when
 * their edges complete, failures run down to dependents, cycles are rejected on put, file and
 * check managers are honoured, and the periodic scan picks up what no finishing job announces.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DependencyCycleError,
  InvalidArgumentError,
  QueueGroup,
  afterJobs,
  check,
  createsFile,
  defaultRegistry,
  type JobDocument,
  type Queue,
} from '../../lib';
import { DependencyExtension } from '../../lib/dependencies/blocked-jobs';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import {
  GateJob,
  SWITCH_CHECK,
  TouchFileJob,
  gates,
  switchCalls,
  switches,
} from '../support/dependency-jobs';
import { FailJob, FlakyJob, NoopJob, SleepJob, runLog, type RunRecord } from '../support/jobs';

function dependencyBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let dir: string;

  before(async () => {
    backend = makeBackend();
    dir = await mkdtemp(join(tmpdir(), 'drover-deps-'));
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    runLog.clear();
    gates.clear();
    switches.clear();
    switchCalls.clear();
  });
  after(async () => {
    gates.clear();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  const runOf = (id: string): RunRecord | undefined => runLog.records.find((r) => r.jobId === id);
  const mustRun = (id: string): RunRecord => {
    const r = runOf(id);
    assert.ok(r, `job ${id} should have run`);
    return r;
  };
  const stateOf = async (q: Queue, id: string) => (await q.getDocument(id))?.state;
  const finished = async (q: Queue, id: string): Promise<JobDocument> =>
    q.waitFor(id, { timeoutMs: 15_000 });

  describe('dispatch', () => {
    it('runs a chain a -> b -> c in order and counts blocked jobs in stats', async () => {
      const q = await group.get('chain');
      await q.putMany([
        SleepJob.create({ ms: 30 }, { id: 'c', dependency: afterJobs(['b']) }),
        SleepJob.create({ ms: 30 }, { id: 'b', dependency: afterJobs(['a']) }),
        SleepJob.create({ ms: 30 }, { id: 'a' }),
      ]);
      const before = await q.stats();
      assert.equal(before.blocked, 2);
      assert.equal(before.pending, 1);
      assert.equal((await q.getDocument('b'))?.dependency.type, 'job-edges');
      await q.start();
      for (const id of ['a', 'b', 'c']) assert.equal((await finished(q, id)).state, 'completed');
      const [a, b, c] = ['a', 'b', 'c'].map(mustRun);
      assert.ok(b.start >= a.end, 'b started after a ended');
      assert.ok(c.start >= b.end, 'c started after b ended');
      const after = await q.stats();
      assert.equal(after.blocked, 0);
      assert.equal(after.completed, 3);
    });

    it('holds a fan-in until every edge completed', async () => {
      const q = await group.get('fan-in');
      await q.putMany([
        NoopJob.create({}, { id: 'a' }),
        GateJob.create({ gate: 'b' }, { id: 'b' }),
        SleepJob.create({ ms: 1 }, { id: 'c', dependency: afterJobs(['a', 'b']) }),
      ]);
      await q.start();
      await finished(q, 'a');
      await eventually('b running', async () => (await stateOf(q, 'b')) === 'running');
      assert.equal(await stateOf(q, 'c'), 'blocked');
      gates.add('b');
      assert.equal((await finished(q, 'c')).state, 'completed');
      assert.ok(mustRun('c').start >= mustRun('b').end);
    });

    it('dispatches across queues (found by the periodic scan)', async () => {
      const left = await group.get('left');
      const right = await group.get('right');
      await right.put(SleepJob.create({ ms: 1 }, { id: 'b', dependency: afterJobs(['a']) }));
      await left.put(GateJob.create({ gate: 'a' }, { id: 'a' }));
      await right.start();
      await left.start();
      await eventually('a running', async () => (await stateOf(left, 'a')) === 'running');
      assert.equal(await stateOf(right, 'b'), 'blocked');
      gates.add('a');
      assert.equal((await finished(right, 'b')).state, 'completed');
      assert.ok(mustRun('b').start >= mustRun('a').end);
    });

    it('re-checks the dependency of a job claimed while not ready', async () => {
      const q = await group.get('sneaky');
      await q.put(GateJob.create({ gate: 'edge' }, { id: 'edge' }));
      // Written straight to the store as pending, bypassing the put that would block it.
      const job = SleepJob.create({ ms: 1 }, { id: 'early', dependency: afterJobs(['edge']) });
      const doc = defaultRegistry.toDocument(job, 'sneaky', new Date());
      assert.equal(doc.state, 'pending');
      await backend.store().jobInsert([doc]);
      await q.start();
      await eventually('early claimed and blocked again', async () => {
        const d = await q.getDocument('early');
        return d?.state === 'blocked' && d.status.modCount > 0;
      });
      assert.equal(runOf('early'), undefined);
      gates.add('edge');
      assert.equal((await finished(q, 'early')).state, 'completed');
      assert.ok(mustRun('early').start >= mustRun('edge').end);
    });

    it('lets the next attempt of a retried dependent run', async () => {
      const q = await group.get('retry');
      await q.putMany([
        NoopJob.create({}, { id: 'a' }),
        FlakyJob.create({ succeedOn: 1 }, { id: 'f', dependency: afterJobs(['a']) }),
      ]);
      await q.start();
      assert.equal((await finished(q, 'f')).state, 'completed');
      const attempts = await q.getAllAttempts('f');
      assert.deepEqual(
        attempts.map((j) => j.status.completed),
        [false, true],
      );
    });

    it('picks up a check that flips from blocked to ready on the periodic scan', async () => {
      const q = await group.get('checks');
      await q.put(
        SleepJob.create(
          { ms: 1 },
          { id: 'x', dependency: check(SWITCH_CHECK, { options: { key: 'x' } }) },
        ),
      );
      await q.start();
      await eventually('check asked twice', () => (switchCalls.get('x') ?? 0) >= 2);
      assert.equal(await stateOf(q, 'x'), 'blocked');
      assert.equal(runOf('x'), undefined);
      switches.set('x', 'ready');
      assert.equal((await finished(q, 'x')).state, 'completed');
      assert.ok(runOf('x'));
    });

    it('scans a large backlog round robin, a bounded page per pass', async () => {
      const q = await group.get('backlog');
      const ids = ['j1', 'j2', 'j3', 'j4', 'j5'];
      await q.putMany(
        ids.map((id) =>
          NoopJob.create({}, { id, dependency: check(SWITCH_CHECK, { options: { key: 'all' } }) }),
        ),
      );
      switches.set('all', 'ready');
      const ext = new DependencyExtension(backend.store(), { scanBatch: 2 });
      assert.deepEqual(
        [
          await ext.scanOnce('backlog', new Date()),
          await ext.scanOnce('backlog', new Date()),
          await ext.scanOnce('backlog', new Date()),
        ],
        [2, 2, 1],
      );
      const stats = await q.stats();
      assert.equal(stats.blocked, 0);
      assert.equal(stats.pending, 5);
    });
  });

  describe('failure', () => {
    it('fails the dependents of a failed job with a clear reason, down the chain', async () => {
      const q = await group.get('fail');
      await q.putMany([
        FailJob.create({}, { id: 'a' }),
        SleepJob.create({ ms: 1 }, { id: 'b', dependency: afterJobs(['a']) }),
        SleepJob.create({ ms: 1 }, { id: 'c', dependency: afterJobs(['b']) }),
      ]);
      await q.start();
      const b = await finished(q, 'b');
      assert.equal(b.state, 'failed');
      assert.equal(b.status.errors.length, 1);
      assert.equal(b.status.errors[0]?.code, 'DROVER_DEPENDENCY_FAILED');
      assert.equal(b.status.errors[0]?.message, 'dependency a of job b ended failed');
      const c = await finished(q, 'c');
      assert.equal(c.state, 'failed');
      assert.equal(c.status.errors[0]?.message, 'dependency b of job c ended failed');
      assert.equal(runOf('b'), undefined);
      assert.equal(runOf('c'), undefined);
      assert.equal((await q.stats()).failed, 3);
    });

    it("runs the dependent of a failed job when onEdgeFailure is 'run'", async () => {
      const q = await group.get('run-anyway');
      await q.putMany([
        FailJob.create({}, { id: 'a' }),
        SleepJob.create(
          { ms: 1 },
          { id: 'b', dependency: afterJobs(['a'], { onEdgeFailure: 'run' }) },
        ),
      ]);
      await q.start();
      assert.equal((await finished(q, 'a')).state, 'failed');
      assert.equal((await finished(q, 'b')).state, 'completed');
      assert.ok(runOf('b'));
    });

    it('fails a job whose edge does not exist', async () => {
      const q = await group.get('missing');
      await q.put(SleepJob.create({ ms: 1 }, { id: 'b', dependency: afterJobs(['nope']) }));
      await q.start();
      const b = await finished(q, 'b');
      assert.equal(b.state, 'failed');
      assert.equal(b.status.errors[0]?.message, 'dependency nope of job b does not exist');
      assert.equal(runOf('b'), undefined);
    });

    it('fails the dependent of a blocked job that was aborted', async () => {
      const q = await group.get('aborted');
      await q.putMany([
        GateJob.create({ gate: 'never' }, { id: 'gate' }),
        NoopJob.create({}, { id: 'b', dependency: afterJobs(['gate']) }),
        NoopJob.create({}, { id: 'c', dependency: afterJobs(['b']) }),
      ]);
      await q.start();
      assert.equal(await q.abort('b'), 'aborted');
      const c = await finished(q, 'c');
      assert.equal(c.state, 'failed');
      assert.equal(c.status.errors[0]?.message, 'dependency b of job c ended aborted');
    });

    it('expires a job still blocked past its dispatch deadline', async () => {
      const q = await group.get('deadline');
      await q.putMany([
        GateJob.create({ gate: 'never' }, { id: 'gate' }),
        NoopJob.create(
          {},
          { id: 'b', dependency: afterJobs(['gate']), dispatchBy: new Date(Date.now() + 200) },
        ),
      ]);
      await q.start();
      const b = await finished(q, 'b');
      assert.equal(b.state, 'expired');
      assert.equal(b.status.errors[0]?.code, 'DROVER_DISPATCH_EXPIRED');
    });
  });

  describe('put', () => {
    it('rejects a cycle within one putMany and inserts nothing', async () => {
      const q = await group.get('cycle');
      await assert.rejects(
        q.putMany([
          NoopJob.create({}, { id: 'ok' }),
          NoopJob.create({}, { id: 'a', dependency: afterJobs(['b']) }),
          NoopJob.create({}, { id: 'b', dependency: afterJobs(['a']) }),
        ]),
        (err: unknown) =>
          err instanceof DependencyCycleError &&
          err.code === 'DROVER_DEPENDENCY_CYCLE' &&
          /a -> b -> a|b -> a -> b/.test(err.message),
      );
      await assert.rejects(
        q.put(NoopJob.create({}, { id: 'self', dependency: afterJobs(['self']) })),
        DependencyCycleError,
      );
      assert.equal((await q.stats()).total, 0);
    });

    it('rejects a cycle through stored jobs and inserts nothing of the batch', async () => {
      const q = await group.get('cycle-stored');
      await q.put(NoopJob.create({}, { id: 'p', dependency: afterJobs(['q']) }));
      await q.put(NoopJob.create({}, { id: 'q', dependency: afterJobs(['r']) }));
      await assert.rejects(
        q.putMany([
          NoopJob.create({}, { id: 'z' }),
          NoopJob.create({}, { id: 'r', dependency: afterJobs(['p']) }),
        ]),
        (err: unknown) =>
          err instanceof DependencyCycleError &&
          err.jobId === 'r' &&
          err.message.includes('r -> p -> q -> r'),
      );
      assert.equal((await q.stats()).total, 2);
      // Without the closing edge the same jobs are accepted.
      await q.put(NoopJob.create({}, { id: 'r' }));
      assert.equal((await q.stats()).blocked, 2);
    });

    it('rejects a malformed stored dependency with a typed error', async () => {
      const q = await group.get('bad');
      const bogus = { type: 'nope', edges: [], options: {}, onEdgeFailure: 'fail' as const };
      await assert.rejects(
        q.putMany([
          NoopJob.create({}, { id: 'ok' }),
          NoopJob.create({}, { id: 'bad', dependency: bogus }),
        ]),
        (err: unknown) =>
          err instanceof InvalidArgumentError && /job bad: .*nope/.test(err.message),
      );
      assert.equal((await q.stats()).total, 0);
    });
  });

  describe('files', () => {
    it('completes a createsFile job without running when the file exists', async () => {
      const q = await group.get('files');
      const present = join(dir, `present-${backend.name}`);
      const absent = join(dir, `absent-${backend.name}`);
      await writeFile(present, 'already here\n');
      await rm(absent, { force: true });
      await q.putMany([
        TouchFileJob.create({ path: present }, { id: 'done', dependency: createsFile(present) }),
        TouchFileJob.create({ path: absent }, { id: 'make', dependency: createsFile(absent) }),
        NoopJob.create({}, { id: 'after', dependency: afterJobs(['done']) }),
      ]);
      await q.start();
      const done = await finished(q, 'done');
      assert.equal(done.state, 'completed');
      assert.equal(done.status.completed, true);
      assert.match(done.status.progressMessage ?? '', /dependency passed/);
      assert.equal(runOf('done'), undefined);
      assert.equal((await finished(q, 'make')).state, 'completed');
      assert.ok(runOf('make'));
      assert.ok(existsSync(absent));
      assert.equal((await finished(q, 'after')).state, 'completed');
    });
  });
}

describe('dependencies: in-memory', () => dependencyBehaviour(memoryBackend));
describe('dependencies: MongoDB', () => dependencyBehaviour(mongoBackend));
