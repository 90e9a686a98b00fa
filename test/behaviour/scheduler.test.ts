/**
 * Periodic and cron jobs against both backends: deterministic tick IDs, one job per tick across
 * racing schedulers, time zones, removal seen by every process, updates, restarts, concurrency keys,
 * bad input.
 * Every test but the last drives `tick(now)` with an injected clock; none sleeps.
 */
import assert from 'node:assert/strict';
import { CONCURRENCY_LIMIT_MAX } from '../../lib/types';
import {
  InvalidArgumentError,
  QueueGroup,
  UnknownJobTypeError,
  type ConcurrencyKey,
  type JobDocument,
  type Scheduler,
} from '../../lib';
import { scheduleTimes } from '../../lib/schedules/schedule-times';
import { tickJobId } from '../../lib/schedules/schedule-definition';
import type { ScheduleStore } from '../../lib/store/schedule-store';
import {
  eventually,
  FAST,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { ReportJob, scheduledRuns, UnregisteredJob } from '../support/scheduled-jobs';

/** Midnight UTC, a multiple of every period used below. */
const BASE = Date.UTC(2030, 0, 1);
const at = (ms: number): Date => new Date(BASE + ms);
const QUEUE = 'scheduled';

function schedulerBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let clock: Date;
  const now = () => clock;

  /** A scheduler on its own group, as if in another process. */
  const scheduler = (): Scheduler => backend.group().scheduler({ now });
  const jobs = async (): Promise<JobDocument[]> =>
    backend.store().jobList({ queue: QUEUE, limit: 1000 });

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    clock = at(500);
  });
  after(async () => backend.close());

  it('enqueues one job per every-N tick, with deterministic IDs and the given payload', async () => {
    const s = scheduler();
    const { outcome, entry } = await s.upsert({
      key: 'report',
      queue: QUEUE,
      job: ReportJob,
      fields: { format: 'csv', pages: 3 },
      options: { priority: 7, maxAttempts: 2 },
      everyMs: 1000,
    });
    assert.equal(outcome, 'created');
    assert.equal(entry.key, 'report');
    assert.deepEqual(entry.type, { name: 'test-scheduled-report', version: 1 });
    assert.deepEqual(entry.nextTickAt, at(1000));

    assert.deepEqual((await s.tick(at(999))).enqueued, []);
    assert.deepEqual((await s.tick(at(1000))).enqueued, [`report@${BASE + 1000}`]);
    assert.deepEqual((await s.tick(at(1999))).enqueued, []);
    assert.deepEqual((await s.tick(at(2000))).enqueued, [tickJobId('report', at(2000))]);

    const docs = await jobs();
    assert.deepEqual(
      docs.map((d) => d._id),
      [`report@${BASE + 1000}`, `report@${BASE + 2000}`],
    );
    const job = await (await backend.group().get(QUEUE)).get<ReportJob>(docs[0]._id);
    assert.ok(job instanceof ReportJob);
    assert.equal(job.format, 'csv');
    assert.equal(job.pages, 3);
    assert.equal(job.priority, 7);
    assert.equal(job.retryInfo.maxAttempts, 2);
    const stored = await s.get('report');
    assert.deepEqual(stored?.lastTick, at(2000));
    assert.deepEqual(stored?.nextTickAt, at(3000));
  });

  it('enqueues exactly one job per tick when schedulers in several processes race', async () => {
    const racers = [scheduler(), scheduler(), scheduler()];
    await racers[0].upsert({ key: 'race', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    let enqueued = 0;
    for (let i = 1; i <= 15; i++) {
      const reports = await Promise.all(racers.map((s) => s.tick(at(i * 1000))));
      const inserted = reports.flatMap((r) => r.enqueued);
      assert.deepEqual(inserted, [tickJobId('race', at(i * 1000))], `tick ${i}`);
      assert.deepEqual(
        reports.flatMap((r) => r.failed),
        [],
      );
      enqueued += inserted.length;
    }
    const docs = await jobs();
    assert.equal(enqueued, 15);
    assert.equal(docs.length, 15);
    assert.equal(new Set(docs.map((d) => d._id)).size, 15);
  });

  it('computes cron ticks in a time zone (across a DST change)', async () => {
    const from = new Date('2024-03-08T12:00:00Z');
    assert.deepEqual(
      scheduleTimes({ cron: '0 9 * * *', timezone: 'America/New_York' }, from, 3).map((d) =>
        d.toISOString(),
      ),
      ['2024-03-08T14:00:00.000Z', '2024-03-09T14:00:00.000Z', '2024-03-10T13:00:00.000Z'],
    );
    assert.deepEqual(
      scheduleTimes({ cron: '0 9 * * *' }, from, 2).map((d) => d.toISOString()),
      ['2024-03-09T09:00:00.000Z', '2024-03-10T09:00:00.000Z'],
    );

    clock = new Date('2024-03-09T12:00:00Z');
    const s = scheduler();
    const ny = await s.upsert({
      key: 'ny',
      queue: QUEUE,
      job: ReportJob,
      cron: '0 9 * * *',
      timezone: 'America/New_York',
    });
    const utc = await s.upsert({ key: 'utc', queue: QUEUE, job: ReportJob, cron: '0 9 * * *' });
    assert.deepEqual(ny.entry.nextTickAt, new Date('2024-03-09T14:00:00Z'));
    assert.deepEqual(utc.entry.nextTickAt, new Date('2024-03-10T09:00:00Z'));

    assert.deepEqual((await s.tick(new Date('2024-03-09T13:59:59.999Z'))).enqueued, []);
    const nine = new Date('2024-03-09T14:00:00Z');
    assert.deepEqual((await s.tick(nine)).enqueued, [tickJobId('ny', nine)]);
    assert.deepEqual((await s.get('ny'))?.nextTickAt, new Date('2024-03-10T13:00:00Z'));
    const utcNine = new Date('2024-03-10T09:00:00Z');
    assert.deepEqual((await s.tick(utcNine)).enqueued, [tickJobId('utc', utcNine)]);
    const nyNine = new Date('2024-03-10T13:00:00Z');
    assert.deepEqual((await s.tick(nyNine)).enqueued, [`ny@${nyNine.getTime()}`]);
  });

  it('stops a removed key in every process, even one that listed it before', async () => {
    const a = scheduler();
    const b = scheduler();
    await a.upsert({ key: 'gone', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    await a.upsert({ key: 'kept', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    assert.deepEqual(
      (await b.list()).map((e) => e.key),
      ['gone', 'kept'],
    );
    assert.equal((await a.tick(at(1000))).enqueued.length, 2);

    assert.equal(await a.remove('gone'), true);
    assert.equal(await a.remove('gone'), false);
    assert.deepEqual((await b.tick(at(2000))).enqueued, [tickJobId('kept', at(2000))]);
    assert.deepEqual((await a.tick(at(3000))).enqueued, [tickJobId('kept', at(3000))]);
    assert.equal(await b.get('gone'), undefined);
    assert.deepEqual(
      (await jobs()).filter((d) => d._id.startsWith('gone@')).map((d) => d._id),
      [tickJobId('gone', at(1000))],
    );
  });

  it('re-checks an entry right before enqueuing: a change between list and insert wins', async () => {
    const a = scheduler();
    await a.upsert({ key: 'late', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    // Another process acts after this one has read the due entries, before it enqueues.
    const real = backend.stores();
    const store = real.schedules;
    let meanwhile = async (): Promise<void> => {};
    const racing: ScheduleStore = {
      init: () => store.init(),
      scheduleGet: (key) => store.scheduleGet(key),
      scheduleList: (p) => store.scheduleList(p),
      scheduleDue: async (p) => {
        const due = await store.scheduleDue(p);
        await meanwhile();
        return due;
      },
      scheduleInsert: (doc) => store.scheduleInsert(doc),
      scheduleRedefine: (p) => store.scheduleRedefine(p),
      scheduleAdvance: (p) => store.scheduleAdvance(p),
      scheduleRemove: (key) => store.scheduleRemove(key),
      sessionCheck: (session) => store.sessionCheck(session),
    };
    const group = new QueueGroup(
      { ...real, schedules: racing },
      { defaults: FAST, logger: testLogger },
    );
    try {
      const b = group.scheduler({ now });
      meanwhile = async () => {
        await a.upsert({
          key: 'late',
          queue: QUEUE,
          job: ReportJob,
          everyMs: 1000,
          fields: { pages: 2 },
        });
      };
      assert.deepEqual((await b.tick(at(1000))).enqueued, [], 'changed: left to the next pass');
      meanwhile = async () => {};
      assert.deepEqual((await b.tick(at(1000))).enqueued, [tickJobId('late', at(1000))]);
      const queue = await group.get(QUEUE);
      assert.equal((await queue.get<ReportJob>(tickJobId('late', at(1000))))?.pages, 2);

      meanwhile = async () => {
        await a.remove('late');
      };
      assert.deepEqual((await b.tick(at(2000))).enqueued, [], 'removed');
      assert.equal((await jobs()).length, 1);
    } finally {
      await group.close();
    }
  });

  it('applies an update at the next tick; an identical upsert changes nothing', async () => {
    const a = scheduler();
    const b = scheduler();
    const spec = { key: 'upd', queue: QUEUE, job: ReportJob, everyMs: 1000 } as const;
    await a.upsert({ ...spec, fields: { format: 'pdf' } });
    assert.deepEqual((await b.tick(at(1000))).enqueued, [tickJobId('upd', at(1000))]);

    const same = await b.upsert({ ...spec, fields: { format: 'pdf' } });
    assert.equal(same.outcome, 'unchanged');
    assert.equal(same.entry.revision, 1);

    clock = at(1200);
    const changed = await a.upsert({ ...spec, fields: { format: 'csv' }, everyMs: 5000 });
    assert.equal(changed.outcome, 'updated');
    assert.equal(changed.entry.revision, 2);
    assert.deepEqual(changed.entry.lastTick, at(1000));
    assert.deepEqual(changed.entry.nextTickAt, at(5000));
    assert.deepEqual((await b.tick(at(4999))).enqueued, []);
    assert.deepEqual((await b.tick(at(5000))).enqueued, [tickJobId('upd', at(5000))]);
    const queue = await backend.group().get(QUEUE);
    assert.equal((await queue.get<ReportJob>(tickJobId('upd', at(5000))))?.format, 'csv');

    await a.upsert({ ...spec, fields: { format: 'csv' }, everyMs: 5000, enabled: false });
    assert.deepEqual((await b.tick(at(10_000))).enqueued, [], 'disabled');
    await a.upsert({ ...spec, fields: { format: 'csv' }, everyMs: 5000 });
    assert.deepEqual(
      (await b.tick(at(21_000))).enqueued,
      [tickJobId('upd', at(20_000))],
      're-enabled: the most recent missed tick only',
    );
  });

  it('does not enqueue old ticks again after a restart, and collapses missed ticks into one', async () => {
    const first = backend.group();
    const s1 = first.scheduler({ now });
    await s1.upsert({ key: 'restart', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    await s1.tick(at(1000));
    await s1.tick(at(2000));
    await first.close();

    const s2 = scheduler();
    assert.deepEqual(await s2.tick(at(2000)), {
      enqueued: [],
      duplicates: [],
      skipped: [],
      failed: [],
    });
    assert.deepEqual((await s2.tick(at(2999))).enqueued, []);
    // Down from 2.5 s to 7.3 s: ticks 3..7 were missed; only the newest is enqueued.
    assert.deepEqual((await s2.tick(at(7300))).enqueued, [tickJobId('restart', at(7000))]);
    assert.equal((await jobs()).length, 3);
  });

  it('re-enqueueing a tick whose job exists counts as a duplicate, not a second job', async () => {
    const s = scheduler();
    await s.upsert({
      key: 'dup',
      queue: QUEUE,
      job: ReportJob,
      everyMs: 1000,
      options: { dispatchWithinMs: 300 },
    });
    // As if a process crashed after inserting the job but before recording the tick.
    const queue = await backend.group().get(QUEUE);
    await queue.put(ReportJob.create({}, { id: tickJobId('dup', at(1000)) }));
    const report = await s.tick(at(1000));
    assert.deepEqual(report.enqueued, []);
    assert.deepEqual(report.duplicates, [tickJobId('dup', at(1000))]);
    assert.deepEqual((await s.get('dup'))?.lastTick, at(1000));

    await s.tick(at(2500));
    const job = await queue.get(tickJobId('dup', at(2000)));
    assert.deepEqual(job?.timeInfo.dispatchBy, at(2300), 'deadline relative to the tick');
  });

  it('skips a tick while the previous job holds its enqueue scope (singleton schedule)', async () => {
    const s = scheduler();
    await s.upsert({
      key: 'single',
      queue: QUEUE,
      job: ReportJob,
      everyMs: 1000,
      options: { enqueueScopes: ['single-report'] },
    });
    assert.deepEqual((await s.tick(at(1000))).enqueued, [tickJobId('single', at(1000))]);
    const second = await s.tick(at(2000));
    assert.deepEqual(second.enqueued, []);
    assert.deepEqual(second.skipped, [tickJobId('single', at(2000))]);
    assert.deepEqual((await s.get('single'))?.lastTick, at(2000), 'a skipped tick is not retried');

    const queue = await backend.group().get(QUEUE);
    await queue.start();
    await queue.waitFor(tickJobId('single', at(1000)), { timeoutMs: 10_000 });
    assert.deepEqual((await s.tick(at(3000))).enqueued, [tickJobId('single', at(3000))]);
  });

  it('gives every job it enqueues the concurrency key of the entry', async () => {
    const s = scheduler();
    const spec = { key: 'keyed', queue: QUEUE, job: ReportJob, everyMs: 1000 } as const;
    const concurrency = { key: 'tenant:acme', limit: 2 };
    const created = await s.upsert({ ...spec, options: { concurrency, priority: 1 } });
    assert.deepEqual(created.entry.options.concurrency, concurrency);
    assert.deepEqual((await s.get('keyed'))?.options.concurrency, concurrency, 'stored');
    const same = await s.upsert({ ...spec, options: { priority: 1, concurrency } });
    assert.equal(same.outcome, 'unchanged');

    await s.tick(at(1000));
    await s.tick(at(2000));
    const docs = await jobs();
    assert.deepEqual(
      docs.map((d) => [d._id, d.concurrencyKey]),
      [
        [tickJobId('keyed', at(1000)), concurrency],
        [tickJobId('keyed', at(2000)), concurrency],
      ],
    );
    const queue = await backend.group().get(QUEUE);
    const job = await queue.get(tickJobId('keyed', at(2000)));
    assert.deepEqual(job?.concurrencyKey, concurrency);

    // A changed limit is a changed definition, applied from the next tick on.
    const wider = { key: 'tenant:acme', limit: 5 };
    const changed = await s.upsert({ ...spec, options: { concurrency: wider, priority: 1 } });
    assert.equal(changed.outcome, 'updated');
    await s.tick(at(3000));
    const third = await backend.store().jobGet(tickJobId('keyed', at(3000)));
    assert.deepEqual(third?.concurrencyKey, wider);
    await s.upsert({ ...spec, options: { priority: 1 } });
    await s.tick(at(4000));
    const plain = await backend.store().jobGet(tickJobId('keyed', at(4000)));
    assert.ok(plain && !('concurrencyKey' in plain), 'no key once the option is dropped');
  });

  it('reports an entry whose job type this process does not know, and goes on', async () => {
    const s = scheduler();
    await s.upsert({ key: 'known', queue: QUEUE, job: ReportJob, everyMs: 1000 });
    const stores = backend.stores();
    await stores.schedules.scheduleInsert({
      _id: 'alien',
      queue: QUEUE,
      type: { name: 'not-in-this-process', version: 1 },
      payload: {},
      options: {},
      everyMs: 1000,
      cron: null,
      timezone: null,
      enabled: true,
      createdAt: at(0),
      updatedAt: at(0),
      revision: 1,
      lastTick: null,
      nextTickAt: at(0),
    });
    const report = await s.tick(at(1000));
    assert.deepEqual(report.enqueued, [tickJobId('known', at(1000))]);
    assert.deepEqual(
      report.failed.map((f) => [f.key, f.error instanceof UnknownJobTypeError]),
      [['alien', true]],
    );
    assert.equal((await s.get('alien'))?.lastTick, null, 'left for a process that knows it');
  });

  it('rejects invalid keys, timings, zones, options and job classes', async () => {
    const s = scheduler();
    const base = { key: 'k', queue: QUEUE, job: ReportJob };
    const badKey = { key: '$where', limit: 1 };
    const halfLimit = { key: 'k', limit: 1.5 };
    const tooMany = { key: 'k', limit: CONCURRENCY_LIMIT_MAX + 1 };
    // What untyped callers (plain JavaScript, JSON) may pass.
    const noLimit = { key: 'k' } as unknown as ConcurrencyKey;
    const invalid: [string, Parameters<Scheduler['upsert']>[0]][] = [
      ['bad cron', { ...base, cron: 'bogus' }],
      ['empty cron', { ...base, cron: '  ' }],
      ['out of range', { ...base, cron: '61 * * * *' }],
      ['never fires', { ...base, cron: '0 0 30 2 *' }],
      ['unknown zone', { ...base, cron: '0 9 * * *', timezone: 'Nowhere/Special' }],
      ['zone with everyMs', { ...base, everyMs: 1000, timezone: 'UTC' }],
      ['both timings', { ...base, everyMs: 1000, cron: '* * * * *' }],
      ['no timing', { ...base }],
      ['too short', { ...base, everyMs: 5 }],
      ['fractional', { ...base, everyMs: 1000.5 }],
      ['bad key', { ...base, key: 'has space', everyMs: 1000 }],
      ['empty key', { ...base, key: '', everyMs: 1000 }],
      ['long key', { ...base, key: 'k'.repeat(181), everyMs: 1000 }],
      ['operator key', { ...base, key: '$ne', everyMs: 1000 }],
      ['bad queue', { ...base, queue: 'no spaces', everyMs: 1000 }],
      ['bad priority', { ...base, everyMs: 1000, options: { priority: Number.NaN } }],
      ['bad scope', { ...base, everyMs: 1000, options: { scopes: ['$x'] } }],
      ['bad concurrency key', { ...base, everyMs: 1000, options: { concurrency: badKey } }],
      ['zero limit', { ...base, everyMs: 1000, options: { concurrency: { key: 'k', limit: 0 } } }],
      ['fractional limit', { ...base, everyMs: 1000, options: { concurrency: halfLimit } }],
      ['limit too high', { ...base, everyMs: 1000, options: { concurrency: tooMany } }],
      ['no limit', { ...base, everyMs: 1000, options: { concurrency: noLimit } }],
    ];
    for (const [what, spec] of invalid) {
      await assert.rejects(s.upsert(spec), InvalidArgumentError, what);
    }
    await assert.rejects(s.get('bad key'), InvalidArgumentError);
    await assert.rejects(s.remove('$ne'), InvalidArgumentError);
    await assert.rejects(
      s.upsert({ key: 'u', queue: QUEUE, job: UnregisteredJob, everyMs: 1000 }),
      UnknownJobTypeError,
    );
    // @ts-expect-error a field of the wrong type does not compile
    void (() => s.upsert({ ...base, everyMs: 1000, fields: { pages: 'many' } }));
    // @ts-expect-error a field the class does not have does not compile
    void (() => s.upsert({ ...base, everyMs: 1000, fields: { nope: 1 } }));
    assert.deepEqual(await s.list(), []);
    assert.throws(() => backend.group().scheduler({ tickEveryMs: 0 }), InvalidArgumentError);
  });

  it('runs on its own with start(): jobs appear at each tick and run; close stops it', async function () {
    this.timeout(30_000);
    const group = backend.group();
    const queue = await group.get(QUEUE);
    await queue.start();
    const s = group.scheduler({ tickEveryMs: 20 });
    const key = `live-${backend.name}`;
    await s.upsert({ key, queue: QUEUE, job: ReportJob, everyMs: 200 });
    scheduledRuns.length = 0;
    s.start();
    assert.equal(s.started, true);
    await eventually(
      'three scheduled jobs ran',
      () => scheduledRuns.filter((id) => id.startsWith(`${key}@`)).length >= 3,
      20_000,
    );
    await group.close();
    assert.equal(s.started, false);
    const ran = scheduledRuns.filter((id) => id.startsWith(`${key}@`));
    assert.equal(new Set(ran).size, ran.length, 'each tick ran once');
    for (const id of ran) assert.equal(Number(id.split('@')[1]) % 200, 0, id);
  });
}

describe('scheduler: in-memory', () => schedulerBehaviour(memoryBackend));
describe('scheduler: MongoDB', () => schedulerBehaviour(mongoBackend));
