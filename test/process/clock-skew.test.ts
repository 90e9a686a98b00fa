/**
 * One clock: worker processes whose system clocks are really off (libfaketime, `FAKETIME=+60s`
 * and `-60s`, loaded with LD_PRELOAD) work next to one with a right clock on one deployment, and
 * nothing changes: no live lock is taken over (no job starts twice), no delayed job starts early
 * (whether the delay was given here or by a skewed process), no schedule tick fires early, two
 * jobs sharing a scope never overlap, and every worker is listed as live.
 *
 * Times are taken here, in the test process (a right clock: the database server runs on this
 * machine), when a worker's IPC message arrives: a start is seen at or after it happened.
 *
 * Needs libfaketime (`apt-get install -y faketime`; .ci/run installs it); skipped without it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { QueueGroup } from '../../lib';
import { initStores, mongoStores } from '../../lib/store/store-set';
import { eventually, testLogger } from '../support/backends';
import { ForkedWorker } from '../support/fork';
import { dropDatabase, testUri, uniqueDbName } from '../support/server';
import {
  SKEW_QUEUE,
  SKEW_WORKER_CONFIG_ENV,
  SkewJob,
  type SkewCommand,
  type SkewMessage,
  type SkewWorkerConfig,
} from './skew-worker';

/** Where Debian (and Ubuntu) install libfaketime. */
const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
  '/usr/local/lib/faketime/libfaketime.so.1',
].find((p) => existsSync(p));

const SKEW_MS = 60_000;
const LOCK_TIMEOUT_MS = 1_500;
const LONG_JOB_MS = 2_500;
const DELAY_MS = 2_000;
/**
 * Every process reads the server's clock to within half a round trip (lib/store/mongo/server-clock.ts):
 * a few ms here, some tens when the machine is loaded. "Early" means earlier than that: a clock a
 * minute off shows as about 60,000 ms.
 */
const CLOCK_TOLERANCE_MS = 100;

/** A skew worker and what it reported, with the arrival time (this process's clock) of each. */
class SkewWorker extends ForkedWorker<SkewMessage> {
  readonly seen: { msg: SkewMessage; at: number }[] = [];
  ready?: Extract<SkewMessage, { kind: 'ready' }>;

  protected onMessage(msg: SkewMessage): void {
    this.seen.push({ msg, at: Date.now() });
    if (msg.kind === 'ready') this.ready = msg;
  }

  tell(command: SkewCommand): void {
    if (this.child.connected) this.child.send(command);
  }
}

describe('clock skew: workers whose clocks are a minute off (libfaketime)', function () {
  this.timeout(120_000);
  const dbName = uniqueDbName('skew');
  const prefix = 'sk';
  let client: MongoClient;
  let group: QueueGroup;
  const workers: SkewWorker[] = [];

  before(async function () {
    if (!LIBFAKETIME) {
      console.log('    libfaketime not installed (apt-get install -y faketime): skipped');
      this.skip();
    }
    client = await MongoClient.connect(testUri());
    const stores = mongoStores(client.db(dbName), { prefix });
    await initStores(stores);
    group = new QueueGroup(stores, { logger: testLogger });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all(workers.map((w) => w.close(500).catch(() => undefined)));
    await Promise.all(workers.map((w) => w.kill9()));
    await group?.close().catch(() => undefined);
    await client?.close();
    await dropDatabase(dbName);
  });

  function spawn(skew: string | null): SkewWorker {
    const config: SkewWorkerConfig = {
      uri: testUri(),
      db: dbName,
      prefix,
      workers: 4,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      heartbeatMs: 300,
      pollMaxMs: 100,
      presenceEveryMs: 1_000,
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      [SKEW_WORKER_CONFIG_ENV]: JSON.stringify(config),
    };
    if (skew !== null && LIBFAKETIME) {
      // An offset: the worker's clock runs at its normal rate, a minute off.
      Object.assign(env, { LD_PRELOAD: LIBFAKETIME, FAKETIME: skew });
    }
    const child = fork(path.join(__dirname, 'skew-worker.js'), [], {
      env,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    const worker = new SkewWorker(child);
    workers.push(worker);
    return worker;
  }

  it('changes nothing: no double start, no early delayed job or tick, no scope overlap', async () => {
    const queue = await group.get(SKEW_QUEUE);
    const normal = spawn(null);
    const ahead = spawn(`+${SKEW_MS / 1000}s`);
    const behind = spawn(`-${SKEW_MS / 1000}s`);
    await eventually('the workers are ready', () => workers.every((w) => w.ready), 60_000);
    // The skew is real: each worker's own clock, as it reported it.
    const skewOf = (w: SkewWorker) => (w.ready?.localNow ?? 0) - Date.now();
    assert.ok(skewOf(ahead) > SKEW_MS / 2, `+60s worker is ${skewOf(ahead)} ms off`);
    assert.ok(skewOf(behind) < -SKEW_MS / 2, `-60s worker is ${skewOf(behind)} ms off`);
    assert.ok(Math.abs(skewOf(normal)) < 10_000, 'the normal worker keeps time');

    // Long jobs (longer than the lock): a skewed worker must not take over a live lock.
    const long = Array.from({ length: 8 }, (_, i) =>
      SkewJob.create({ ms: LONG_JOB_MS }, { id: `long-${i}` }),
    );
    // Jobs sharing one scope: never two at once.
    const scoped = Array.from({ length: 6 }, (_, i) =>
      SkewJob.create({ ms: 300 }, { id: `scoped-${i}`, scopes: ['one-at-a-time'] }),
    );
    // Delayed here (a right clock)...
    const delayedHere = Array.from({ length: 4 }, (_, i) =>
      SkewJob.create({ ms: 50 }, { id: `delayed-here-${i}`, delayMs: DELAY_MS }),
    );
    const putAt = Date.now();
    await queue.putMany([...long, ...scoped, ...delayedHere]);
    // ...and by each skewed worker, as a delay measured on its own clock.
    const asked = new Map<string, number>();
    for (const [name, w] of [
      ['ahead', ahead],
      ['behind', behind],
    ] as const) {
      const jobId = `delayed-by-${name}`;
      asked.set(jobId, Date.now());
      w.tell({ kind: 'put', jobId, delayMs: DELAY_MS });
    }
    // A schedule ticking every second, enqueued by the workers' schedulers only.
    const since = Date.now();
    await group
      .scheduler()
      .upsert({ key: 'tick', queue: SKEW_QUEUE, job: SkewJob, everyMs: 1_000 });

    const ids = [...long, ...scoped, ...delayedHere].map((j) => j.id).concat([...asked.keys()]);
    const ended = (id: string) =>
      workers.some((w) => w.seen.some((s) => s.msg.kind === 'end' && s.msg.jobId === id));
    // Bounded, and not fatal here: what did not run in time is reported with the rest below.
    await eventually(
      'every job ran to its end and three schedule ticks ran',
      () => ids.every(ended) && ticks().filter((t) => t.kind === 'end').length >= 3,
      30_000,
    ).catch(() => undefined);

    const starts = workers.flatMap((w) =>
      w.seen.flatMap((s) => (s.msg.kind === 'start' ? [{ jobId: s.msg.jobId, at: s.at }] : [])),
    );
    const counts = new Map<string, number>();
    for (const s of starts) counts.set(s.jobId, (counts.get(s.jobId) ?? 0) + 1);
    // Double starts: a job started more than once (a live lock taken over).
    const doubleStarts = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
    // Early delayed jobs, delayed here or by a skewed worker (a delay on its own clock).
    const earlyDelayed: string[] = [];
    const firstStart = (id: string) => starts.find((x) => x.jobId === id)?.at;
    for (const j of delayedHere) {
      const at = firstStart(j.id);
      if (at !== undefined && at < putAt + DELAY_MS - CLOCK_TOLERANCE_MS)
        earlyDelayed.push(`${j.id} ${putAt + DELAY_MS - at} ms`);
    }
    for (const [jobId, askedAt] of asked) {
      const at = firstStart(jobId);
      if (at !== undefined && at < askedAt + DELAY_MS - CLOCK_TOLERANCE_MS) {
        earlyDelayed.push(`${jobId} ${askedAt + DELAY_MS - at} ms`);
      }
    }
    // Early ticks: the job of tick T started before T, or a tick before the schedule existed.
    const earlyTicks = ticks()
      .filter(
        (t) => t.kind === 'start' && (t.at < t.tick - CLOCK_TOLERANCE_MS || t.tick < since - 1_000),
      )
      .map((t) => `tick ${t.tick} ${t.tick - t.at} ms`);
    // Scope overlaps: runs of the scoped jobs (start and end as they arrived here) that overlap.
    const runs = workers
      .flatMap((w) => w.seen)
      .filter((s) => s.msg.kind !== 'ready' && s.msg.jobId.startsWith('scoped-'))
      .sort((a, b) => a.at - b.at);
    const overlaps: string[] = [];
    let inside = 0;
    for (const r of runs) {
      if (r.msg.kind === 'start' && inside++ > 0) overlaps.push(r.msg.jobId);
      if (r.msg.kind === 'end') inside -= 1;
    }
    // Presence: every worker is listed as live (a record written on a clock a minute behind
    // would expire at once; one a minute ahead would outlive its process).
    const listed = new Set((await group.workers()).map((w) => w.pid));
    const unlisted = workers.filter((w) => !listed.has(w.pid)).map((w) => w.pid);
    const unfinished = ids.filter((id) => !ended(id));
    console.log(
      `      double starts ${doubleStarts.length}, early delayed jobs ${earlyDelayed.length}, ` +
        `early ticks ${earlyTicks.length}, scope overlaps ${overlaps.length}, ` +
        `workers missing from workers() ${unlisted.length}, jobs not run in time ${unfinished.length}`,
    );

    assert.deepEqual(doubleStarts, [], 'jobs started more than once (a live lock taken over)');
    assert.deepEqual(earlyDelayed, [], 'delayed jobs started early');
    assert.deepEqual(earlyTicks, [], 'schedule ticks fired early');
    assert.deepEqual(overlaps, [], 'jobs sharing a scope ran at the same time');
    assert.deepEqual(unlisted, [], 'live workers missing from workers()');
    assert.deepEqual(unfinished, [], 'jobs that did not run in time');
    const states = await Promise.all(ids.map(async (id) => (await queue.getDocument(id))?.state));
    assert.ok(
      states.every((st) => st === 'completed'),
      `every job completed: ${states.join(', ')}`,
    );
  });

  /** Every start and end of a schedule tick's job, with the tick's time (from its job ID). */
  function ticks(): { kind: 'start' | 'end'; tick: number; at: number }[] {
    return workers.flatMap((w) =>
      w.seen.flatMap((s) => {
        if ((s.msg.kind !== 'start' && s.msg.kind !== 'end') || !s.msg.jobId.startsWith('tick@'))
          return [];
        return [{ kind: s.msg.kind, tick: Number(s.msg.jobId.split('@')[1]), at: s.at }];
      }),
    );
  }
});
