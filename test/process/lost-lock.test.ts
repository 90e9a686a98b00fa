/**
 * Lost lock: two groups on one MongoJobStore act as two workers, A and B. A's lock is forced
 * stale while A runs a job; B claims and completes it. A's signal fires with a LockLostError,
 * A emits 'lock-lost' and records nothing, also when A ignores its signal and finishes late.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import {
  BaseJob,
  JobType,
  LockLostError,
  QueueGroup,
  type JobContext,
  type JobDocument,
  type Queue,
  type QueueEventMap,
  type QueueOptions,
} from '../../lib';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { eventually, FAST, testLogger } from '../support/backends';
import { runLog, SleepJob } from '../support/jobs';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';

const LOCK_TIMEOUT_MS = 600;

/** What one run of a probe job saw. */
interface ProbeRecord {
  jobId: string;
  owner: string;
  start: number;
  end: number;
  aborted: boolean;
  reason: unknown;
}

const probeRuns: ProbeRecord[] = [];
/** Owners whose job signal has fired, with the reason (recorded the moment it fires). */
const signalsFired = new Map<string, unknown>();
const gates = new Map<string, { open: Promise<void>; release: () => void }>();

/** A gate jobs wait on until the test releases it (deterministic ordering, no sleeps). */
function gate(name: string): { open: Promise<void>; release: () => void } {
  let g = gates.get(name);
  if (!g) {
    let release!: () => void;
    const open = new Promise<void>((resolve) => (release = resolve));
    g = { open, release };
    gates.set(name, g);
  }
  return g;
}

/** Waits for its gate (or for its signal, unless it ignores it) and records what its signal said. */
@JobType('test-process-lock-probe')
class LockProbeJob extends BaseJob {
  gate = '';
  ignoreSignal = false;
  async run(ctx: JobContext): Promise<void> {
    const start = Date.now();
    const owner = this.status.owner;
    ctx.signal.addEventListener('abort', () => signalsFired.set(owner, ctx.signal.reason), {
      once: true,
    });
    try {
      const open = gate(this.gate).open;
      if (this.ignoreSignal) {
        await open;
      } else {
        await Promise.race([
          open,
          new Promise<never>((_, reject) => {
            if (ctx.signal.aborted) reject(ctx.signal.reason as Error);
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), {
              once: true,
            });
          }),
        ]);
      }
    } finally {
      probeRuns.push({
        jobId: this.id,
        owner: this.status.owner,
        start,
        end: Date.now(),
        aborted: ctx.signal.aborted,
        reason: ctx.signal.reason,
      });
    }
  }
}

type Recorded = { event: keyof QueueEventMap; jobId: string };

describe('lost lock: a worker whose lock is taken aborts and records nothing', function () {
  this.timeout(30_000);

  const dbName = uniqueDbName('lost_lock');
  let client: MongoClient;
  let store: MongoJobStore;
  let qA: Queue;
  let qB: Queue;
  let eventsA: Recorded[];
  let eventsB: Recorded[];
  let groups: QueueGroup[] = [];
  let n = 0;

  before(async function () {
    client = await MongoClient.connect(testUri());
  });

  beforeEach(async function () {
    // A fresh collection, queue and pair of workers per test.
    store = new MongoJobStore(client.db(dbName), `jobs_${++n}`);
    await store.init();
    groups = [];
    [qA, eventsA] = await worker();
    [qB, eventsB] = await worker();
    probeRuns.length = 0;
    signalsFired.clear();
    runLog.clear();
  });

  /** A worker: its own group (and pool) on the shared store, with its events recorded. */
  async function worker(options: QueueOptions = {}): Promise<[Queue, Recorded[]]> {
    const defaults = {
      ...FAST,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      heartbeatMs: 100,
      workers: 1,
      ...options,
    };
    const group = new QueueGroup(store, { defaults, logger: testLogger });
    groups.push(group);
    const queue = await group.get('lost');
    const events: Recorded[] = [];
    for (const event of [
      'claimed',
      'completed',
      'failed',
      'aborted',
      'lock-lost',
      'released',
      'retrying',
    ] as const) {
      queue.on(event, (info: { jobId: string }) => events.push({ event, jobId: info.jobId }));
    }
    return [queue, events];
  }

  afterEach(async function () {
    this.timeout(20_000);
    // Let any job still waiting on a gate finish, then close both workers.
    for (const g of gates.values()) g.release();
    await Promise.all(groups.map((g) => g.close({ drainTimeoutMs: 2_000 })));
  });

  after(async function () {
    this.timeout(20_000);
    await client?.close();
    await dropDatabase(dbName);
  });

  async function doc(id: string): Promise<JobDocument> {
    const d = await store.jobGet(id);
    assert.ok(d, `document ${id} exists`);
    return d;
  }

  const count = (events: Recorded[], event: keyof QueueEventMap, jobId: string) =>
    events.filter((e) => e.event === event && e.jobId === jobId).length;

  /** A claims the job; its lock is forced stale; B starts and claims it. Returns A's doc. */
  async function stealFromA(jobId: string, lockTimeoutMs = LOCK_TIMEOUT_MS): Promise<JobDocument> {
    await qA.start();
    await eventually('A runs the job', () => qA.isRunning(jobId));
    const held = await doc(jobId);
    assert.equal(held.status.owner, qA.owner);
    assert.equal(held.state, 'running');
    const reclaimed = await store.jobReclaimStale({
      queue: 'lost',
      now: new Date(Date.now() + lockTimeoutMs + 1000),
    });
    assert.equal(reclaimed, 1, 'the stale lock was reclaimed');
    await qB.start();
    await eventually(
      'B claims the job',
      async () => (await doc(jobId)).status.owner === qB.owner,
      10_000,
    );
    return held;
  }

  /** The final document: B completed it, A wrote nothing after its claim. */
  async function assertOnlyBRecorded(jobId: string, held: JobDocument): Promise<void> {
    await eventually(
      'the job is completed',
      async () => (await doc(jobId)).state === 'completed',
      10_000,
    );
    await eventually('A has let go of the job', () => !qA.isRunning(jobId), 10_000);
    const d = await doc(jobId);
    assert.equal(d.status.owner, qB.owner, 'B is the owner of record');
    assert.equal(d.status.completed, true);
    // claim (A) + reclaim + claim (B) + finish (B): nothing from A after its claim.
    assert.equal(d.status.modCount, held.status.modCount + 3);
    assert.deepEqual(
      d.status.errors.map((e) => e.code),
      ['DROVER_LOCK_LOST'],
      'only the reclaim recorded an error',
    );
    assert.equal(count(eventsB, 'completed', jobId), 1, 'B completed it once');
    assert.equal(count(eventsA, 'completed', jobId), 0, 'A did not complete it');
    assert.equal(
      count(eventsA, 'failed', jobId) + count(eventsA, 'aborted', jobId),
      0,
      'A recorded no failure',
    );
    assert.equal(count(eventsA, 'lock-lost', jobId), 1, 'A emitted lock-lost once');
    assert.equal(count(eventsB, 'lock-lost', jobId), 0);
    assert.equal((await qA.stats()).completed, 1, 'one completion in the store');
  }

  it('aborts A through its signal with a LockLostError; B completes the job', async function () {
    const job = LockProbeJob.create({ gate: 'honour' }, { id: 'lost-honour' });
    await qA.put(job);
    const held = await stealFromA(job.id);

    // A's heartbeat finds the lock gone and fires A's signal; the job stops at once.
    await eventually('A emits lock-lost', () => count(eventsA, 'lock-lost', job.id) === 1, 10_000);
    const runA = probeRuns.find((r) => r.owner === qA.owner);
    assert.ok(runA, 'A run ended');
    assert.equal(runA.aborted, true, "A's signal fired");
    assert.ok(
      runA.reason instanceof LockLostError,
      `reason is a LockLostError (${String(runA.reason)})`,
    );
    assert.equal(runA.reason.code, 'DROVER_LOCK_LOST');

    gate('honour').release();
    await assertOnlyBRecorded(job.id, held);
    const runB = probeRuns.find((r) => r.owner === qB.owner);
    assert.ok(runB && !runB.aborted, 'B ran to the end');
  });

  it('drops the outcome of A when A ignores its signal and finishes late, while B holds the lock', async function () {
    const job = LockProbeJob.create({ gate: 'ignore', ignoreSignal: true }, { id: 'lost-ignore' });
    await qA.put(job);
    const held = await stealFromA(job.id);
    // B now holds the lock and waits on the same gate. A's heartbeat fires A's signal, which A
    // ignores: it keeps running.
    await eventually('B runs the job', () => qB.isRunning(job.id));
    await eventually("A's signal fires", () => signalsFired.has(qA.owner), 10_000);
    assert.ok(signalsFired.get(qA.owner) instanceof LockLostError);
    assert.equal(qA.isRunning(job.id), true, 'A still runs the job');

    gate('ignore').release();
    await assertOnlyBRecorded(job.id, held);
    const runA = probeRuns.find((r) => r.owner === qA.owner);
    const runB = probeRuns.find((r) => r.owner === qB.owner);
    assert.ok(runA && runB, 'both ran to the end');
    assert.equal(runA.aborted, true, "A's signal fired even though A ignored it");
    assert.ok(runA.reason instanceof LockLostError);
    assert.ok(runA.end >= runB.start, 'A finished after B had claimed the job');
  });

  it("drops A's outcome when A finishes before its heartbeat notices the loss (the finish write is rejected)", async function () {
    // A heartbeats every 30 s, so it cannot learn of the loss before the job ends: its finish
    // write, guarded by its old token, is what must fail.
    [qA, eventsA] = await worker({
      lockTimeoutMs: 60_000,
      heartbeatMs: 30_000,
      reclaimEveryMs: 30_000,
    });
    // B's clock runs ahead by more than A's lock timeout, so B may claim the reclaimed job
    // whether or not the reclaim moved its due time to the (forced) reclaim time.
    [qB, eventsB] = await worker({ now: () => new Date(Date.now() + 62_000) });
    const job = LockProbeJob.create({ gate: 'late-finish' }, { id: 'lost-finish' });
    await qA.put(job);
    const held = await stealFromA(job.id, 60_000);
    await eventually('B runs the job', () => qB.isRunning(job.id));
    assert.equal(signalsFired.has(qA.owner), false, 'A has not noticed the loss');
    assert.equal(qA.isRunning(job.id), true);

    gate('late-finish').release();
    await assertOnlyBRecorded(job.id, held);
    const runA = probeRuns.find((r) => r.owner === qA.owner);
    assert.ok(runA, 'A ran to the end');
    assert.equal(
      runA.aborted,
      false,
      "A's run ended normally, so only the guarded write could stop it",
    );
  });

  it('drops the late outcome of a SleepJob that ignores its signal', async function () {
    const job = SleepJob.create({ ms: 2_500, ignoreSignal: true }, { id: 'lost-sleep' });
    await qA.put(job);
    const held = await stealFromA(job.id);
    await assertOnlyBRecorded(job.id, held);
    // Both ran to the end (runLog records the end of a run); only B's outcome is stored.
    await eventually('A finished its run', () => runLog.records.some((r) => r.owner === qA.owner));
    assert.deepEqual(runLog.records.map((r) => r.owner).sort(), [qA.owner, qB.owner].sort());
    const d = await doc(job.id);
    assert.equal(d.payload.result, 'slept 2500');
  });
  it('records once a job past its maxTime that ignores its signal, so nobody runs it again', async function () {
    // Both workers run; whichever claims first keeps the lock until it gives the run up (after
    // its abort grace) and records it timed out. Not retryable: a retry would run it again.
    await Promise.all([qA.start(), qB.start()]);
    const job = SleepJob.create(
      { ms: 2_000, ignoreSignal: true },
      { id: 'lost-maxtime', maxTimeMs: 200, retryable: false },
    );
    await qA.put(job);
    await eventually('the first run ends', () => runLog.records.length >= 1, 15_000);
    await eventually(
      'the job is finished',
      async () => !['pending', 'running'].includes((await doc(job.id)).state),
      10_000,
    );
    // Time for a wrongly reclaimed job to be claimed again.
    await new Promise((r) => setTimeout(r, 3 * LOCK_TIMEOUT_MS));
    const d = await doc(job.id);
    const seen = `state ${d.state}, errors ${JSON.stringify(d.status.errors)}`;
    const claims = count(eventsA, 'claimed', job.id) + count(eventsB, 'claimed', job.id);
    assert.equal(claims, 1, `claimed once (${seen})`);
    assert.equal(runLog.records.length, 1, `ran once (${seen})`);
    assert.equal(d.state, 'failed', seen);
    assert.deepEqual(
      d.status.errors.map((e) => e.code),
      ['DROVER_MAX_TIME_EXCEEDED'],
      'the max-time error, and no lock expiry',
    );
    assert.equal(count(eventsA, 'lock-lost', job.id) + count(eventsB, 'lock-lost', job.id), 0);
  });
});
