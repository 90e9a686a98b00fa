/**
 * Every query that drover issues repeatedly (the runner, the upkeep passes, management, the
 * scheduler, the dashboard) runs through `explain('executionStats')` over a jobs collection of
 * 20,000 attempts in four queues and every state: each must scan an index, never the
 * collection, and read about as many index keys and documents as it returns.
 *
 * Where the engine cannot give an order from an index (DocumentDB: its RUM indexes return rows
 * unordered), a sorted query reads every row its filter selects and sorts them in memory; the
 * bound is then the rows selected (`sorted` in the table), which the index range alone must
 * produce: nothing of another queue or state is read. On MongoDB the same queries sort nothing.
 *
 * Counting every attempt of every queue (the overview's counts) reads every document by nature,
 * and worker presence reads its few records whole (no index but `_id`): those two are bounded by
 * their collection's size and named as such in the table.
 *
 * Needs `explain`: runs on MongoDB and DocumentDB, skipped on mongo-java-server. The table of
 * every query, the index it used and its figures is printed at the end.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type Db, type Document } from 'mongodb';
import { defaultRegistry, type JobDocument, type JobState } from '../../lib';
import { HANDED_OVER_AT } from '../../lib/types';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { CHANGED_INDEX } from '../../lib/store/mongo/job-indexes';
import { MongoRequestStore } from '../../lib/store/mongo/request-store';
import { MongoScheduleStore } from '../../lib/store/mongo/schedule-store';
import { MongoScopeStore } from '../../lib/store/mongo/scope-store';
import type { ScheduleDocument } from '../../lib/store/schedule-store';
import type { ScopeLockDocument } from '../../lib/store/scope-store';
import type { TimeRangeRequestDocument } from '../../lib/store/request-store';
import { MongoQueueStore } from '../../lib/store/mongo/queue-store';
import { MongoWorkerStore } from '../../lib/store/mongo/worker-store';
import { MongoRollupStore } from '../../lib/store/mongo/rollup-store';
import { emptyRollup, rollupId, type RollupDocument } from '../../lib/store/rollup-store';
import type { QueueRecord } from '../../lib/store/queue-store';
import type { WorkerRecord } from '../../lib/store/worker-store';
import {
  explainEngine,
  summarizePlan,
  type ExplainEngine,
  type PlanSummary,
} from '../support/explain';
import { NoopJob } from '../support/jobs';
import { testUri, uniqueDbName } from '../support/server';

const QUEUES = ['q0', 'q1', 'q2', 'q3'];
/** A queue whose workers have taken every due attempt: the idle queue of the process probe. */
const DRAINED = 'q3';
const PER_QUEUE = 5_000;
/** Index keys or documents beyond the rows returned that a plan may read (seeks, boundaries). */
const SLACK = 10;

/** How many attempts of each queue are in each state (sums to PER_QUEUE). */
const MIX: [JobState | 'pending-later' | 'running-stale' | 'completed-drained', number][] = [
  ['pending', 800],
  ['pending-later', 400],
  ['blocked', 300],
  ['running', 190],
  ['running-stale', 10],
  ['retrying', 50],
  ['completed', 2_900],
  ['failed', 200],
  ['aborted', 100],
  ['quarantined', 50],
];

/** Attempts of a queue changed within the last seconds (what a follower's poll returns). */
const RECENT = 25;

interface Case {
  name: string;
  /** Who issues it, and how often. */
  who: string;
  /** The index meant to serve it (a planner may pick an equivalent one: see the table). */
  index: string;
  explain(): Promise<Document>;
  /** Rows counted by a count or an aggregation (its figures are bounded by these). */
  counted?: number;
  /**
   * Reads the whole collection by nature (counts of every queue; presence, one small record per
   * live process group, most of them live): bounded by its size.
   */
  fullRead?: string;
}

interface Row extends PlanSummary {
  name: string;
  who: string;
  intended: string;
}

/** History rollups: two job types per queue, every minute of the last day. */
const ROLLUP_TYPES = ['send', 'resize'];
const ROLLUP_MINUTES = 1_440;
/** How long each rollup is kept in this data: the day's oldest hour has expired. */
const ROLLUP_KEEP_MS = 23 * 3_600_000;
/**
 * The rollups' expiry times are shifted this far ahead, and the prune pass is explained at a
 * `now` as far ahead: the same rollups match it, but none has expired by the server's own clock,
 * so the TTL monitor cannot delete them while the plan is read (keys of deleted rows would count).
 */
const TTL_SAFE_MS = 2 * 3_600_000;

function rollupDocs(now: Date): RollupDocument[] {
  const minute = now.getTime() - (now.getTime() % 60_000);
  const docs: RollupDocument[] = [];
  for (const queue of QUEUES) {
    for (const type of ROLLUP_TYPES) {
      for (let i = 0; i < ROLLUP_MINUTES; i++) {
        const at = new Date(minute - i * 60_000);
        docs.push({
          _id: rollupId(queue, type, at),
          queue,
          type,
          minute: at,
          expiresAt: new Date(at.getTime() + ROLLUP_KEEP_MS + TTL_SAFE_MS),
          ...emptyRollup(),
          started: 3,
          completed: 3,
        });
      }
    }
  }
  return docs;
}

/** Documents corrupted by hand, pending in every queue: what the malformed probe finds. */
const MALFORMED: [string, (d: Record<string, unknown>) => void][] = [
  ['due-string', (d) => (d.dueAt = 'tomorrow')],
  ['modcount-string', (d) => ((d.status as Record<string, unknown>).modCount = 'x')],
  ['timeinfo-missing', (d) => delete d.timeInfo],
];

function pick<T>(xs: T[], i: number): T {
  return xs[i % xs.length];
}

/**
 * The attempts of one queue, in every state, as the registry and the runner shape them, and a
 * few malformed ones. A drained queue's due attempts were all taken: they are completed.
 */
function queueDocs(queue: string, now: Date): JobDocument[] {
  const docs: JobDocument[] = [];
  const minute = 60_000;
  let n = 0;
  const mix = MIX.map(([kind, count]): [string, number] =>
    queue === DRAINED && kind === 'pending' ? ['completed-drained', count] : [kind, count],
  );
  for (const [kind, count] of mix) {
    for (let i = 0; i < count; i++, n++) {
      const id = `${queue}-${kind}-${String(i).padStart(5, '0')}`;
      const created = new Date(now.getTime() - (PER_QUEUE - n) * minute);
      const job = NoopJob.create({}, { id, priority: i % 10 === 0 ? 5 : 0 });
      const doc = defaultRegistry.toDocument(job, queue, created);
      doc.status.modTime = created;
      const ended = new Date(created.getTime() + minute);
      switch (kind) {
        case 'pending':
          doc.dueAt = new Date(now.getTime() - ((i % 60) + 1) * minute);
          break;
        case 'pending-later':
          doc.dueAt = new Date(now.getTime() + ((i % 60) + 1) * minute);
          break;
        case 'blocked':
          doc.state = 'blocked';
          doc.dependency.type = 'job-edges';
          doc.dependency.edges = [`${queue}-parent-${i % 30}`];
          break;
        case 'running':
        case 'running-stale':
          doc.state = 'running';
          doc.status.owner = `worker-${i % 4}`;
          doc.status.inProgress = true;
          doc.status.modCount = 1;
          doc.timeInfo.start = new Date(now.getTime() - minute);
          doc.status.lockExpiresAt = new Date(
            now.getTime() + (kind === 'running' ? 1 : -1) * minute,
          );
          break;
        case 'retrying':
          doc.state = 'retrying';
          doc.retryInfo.needsRetry = true;
          doc.timeInfo.end = ended;
          // Most were handed over to their next attempt; a few wait for the retry monitor.
          doc.dueAt = i < 5 ? new Date(now.getTime() - minute) : HANDED_OVER_AT;
          break;
        default:
          doc.state = kind === 'completed-drained' ? 'completed' : (kind as JobState);
          doc.status.completed = kind === 'completed';
          doc.timeInfo.start = created;
          doc.timeInfo.end = ended;
          doc.status.modTime = ended;
      }
      if (n < RECENT) doc.status.modTime = new Date(now.getTime() - 2_000 + n);
      docs.push(doc);
    }
  }
  for (const [name, corrupt] of MALFORMED) {
    const doc = defaultRegistry.toDocument(
      NoopJob.create({}, { id: `${queue}-malformed-${name}` }),
      queue,
      new Date(now.getTime() - minute),
    );
    corrupt(doc as unknown as Record<string, unknown>);
    docs.push(doc);
  }
  return docs;
}

function scopeLocks(now: Date): ScopeLockDocument[] {
  return Array.from({ length: 2_000 }, (_, i) => {
    const queue = pick(QUEUES, i);
    return {
      _id: `${queue}/scope-${i}`,
      queue,
      scope: `scope-${i}`,
      kind: i % 2 === 0 ? 'dispatch' : 'enqueue',
      holder: `${queue}-running-${String(i % 190).padStart(5, '0')}`,
      attemptId: `${queue}-running-${String(i % 190).padStart(5, '0')}`,
      owner: `worker-${i % 4}`,
      token: `token-${i}`,
      acquiredAt: now,
      expiresAt: new Date(now.getTime() + 60_000),
    } as ScopeLockDocument;
  });
}

function schedules(now: Date): ScheduleDocument[] {
  return Array.from({ length: 500 }, (_, i) => ({
    _id: `schedule-${i}`,
    queue: pick(QUEUES, i),
    type: { name: 'test-noop', version: 1 },
    payload: {},
    options: {},
    everyMs: 60_000,
    cron: null,
    timezone: null,
    enabled: i % 50 !== 0,
    createdAt: now,
    updatedAt: now,
    revision: 1,
    lastTick: null,
    // Five are due; the rest tick later.
    nextTickAt: new Date(now.getTime() + (i < 5 ? -1_000 : (i + 1) * 60_000)),
  }));
}

/** Queue records: the four queues and as many others, as groups open them. */
function queueRecords(now: Date): Document[] {
  return Array.from({ length: 400 }, (_, i) => ({
    _id: i < QUEUES.length ? QUEUES[i] : `other-${String(i).padStart(4, '0')}`,
    created: now,
    lastActive: now,
    paused: false,
    pausedAt: null,
    pausedTypes: [],
    options: {},
    modCount: 1,
    modTime: now,
  }));
}

/** Presence records: a few live process groups and some that stopped without closing. */
function workerRecords(now: Date): Document[] {
  return Array.from({ length: 12 }, (_, i) => ({
    _id: `host-${i}:${1000 + i}:abc${i}`,
    host: `host-${i}`,
    pid: 1000 + i,
    startedAt: now,
    seenAt: now,
    expiresAt: new Date(now.getTime() + (i < 8 ? 30_000 : -30_000)),
    state: 'ready',
    message: '',
    stateSince: null,
    queues: [{ name: pick(QUEUES, i), owner: `worker-${i}`, workers: 4, running: 1 }],
  }));
}

function requests(now: Date, template: JobDocument): TimeRangeRequestDocument[] {
  return Array.from({ length: 1_000 }, (_, i) => {
    const settled = i >= 20;
    return {
      _id: `request-${String(i).padStart(5, '0')}`,
      name: `backfill ${i}`,
      queue: pick(QUEUES, i),
      chunkType: 'test-noop',
      earliest: new Date(0),
      latest: now,
      chunkMs: 3_600_000,
      total: 10,
      state: settled ? 'done' : 'running',
      continueOnChunkFailure: false,
      template,
      created: now,
      started: now,
      finished: settled ? now : null,
      counts: null,
      message: null,
      settled,
    } as TimeRangeRequestDocument;
  });
}

function table(rows: Row[]): string {
  const head = ['query', 'issued by', 'index (meant)', 'keys', 'docs', 'sorted', 'returned'];
  const cells = rows.map((r) => [
    r.name,
    r.who,
    `${r.collScan ? 'COLLSCAN' : r.indexes.join('+')} (${r.intended})`,
    String(r.keysExamined),
    String(r.docsExamined),
    String(r.sortedInMemory),
    String(r.returned),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

describe('explain: every repeated query is served by an index (20,000 attempts)', function () {
  this.timeout(600_000);
  let client: MongoClient;
  let db: Db;
  let dbName = '';
  let engine: ExplainEngine = 'none';
  const rows: Row[] = [];
  const now = new Date();
  const q = 'q1';

  const jobsOf = () => db.collection<JobDocument>('drover_jobs');
  const rollupsOf = () => db.collection<RollupDocument>('drover_rollups_explain');
  const Q = MongoJobStore.queries;

  before(async function () {
    client = await MongoClient.connect(testUri());
    dbName = uniqueDbName('explain');
    db = client.db(dbName);
    engine = await explainEngine(db);
    if (engine === 'none') this.skip();
    // Indexes first, on empty collections: built at once on every engine.
    const store = new MongoJobStore(db);
    const scopes = new MongoScopeStore(db);
    const schedule = new MongoScheduleStore(db);
    const request = new MongoRequestStore(db);
    // Rollups: a TTL monitor may delete the expired hour while the cases run; the prune case's
    // bound holds either way.
    const rollups = new MongoRollupStore(db, 'drover_rollups_explain');
    await Promise.all([
      store.init(),
      // The followers' index, which the first follower builds.
      store.jobs.createIndexes([CHANGED_INDEX]),
      scopes.init(),
      schedule.init(),
      request.init(),
      rollups.init(),
    ]);
    let template: JobDocument | undefined;
    for (const queue of QUEUES) {
      const docs = queueDocs(queue, now);
      template ??= docs[0];
      for (let i = 0; i < docs.length; i += 1_000) await store.jobInsert(docs.slice(i, i + 1_000));
    }
    await scopes.scopeInsert(scopeLocks(now));
    for (const s of schedules(now)) await schedule.scheduleInsert(s);
    await request.requests.insertMany(requests(now, template as JobDocument));
    await db.collection('drover_queues').insertMany(queueRecords(now));
    await db.collection('drover_workers').insertMany(workerRecords(now));
    const docs = rollupDocs(now);
    for (let i = 0; i < docs.length; i += 1_000) {
      await rollupsOf().insertMany(docs.slice(i, i + 1_000));
    }
    // Fresh statistics for the planner (PostgreSQL's ANALYZE runs in the background).
    if (engine === 'documentdb') await jobsOf().estimatedDocumentCount();
  });

  after(async function () {
    if (rows.length > 0) {
      process.stdout.write(`\n  explain on ${engine}:\n${table(rows)}\n\n`);
    }
    // DROVER_TEST_KEEP_DB=1 keeps the collections for a look (as every suite's database).
    if (process.env.DROVER_TEST_KEEP_DB) process.stdout.write(`  kept database ${dbName}\n`);
    else if (db) await db.dropDatabase().catch(() => undefined);
    await client?.close();
  });

  const count = (state: string, n = 1): number => (MIX.find(([k]) => k === state)?.[1] ?? 0) * n;

  // Running attempt i is owned by worker-(i % 4): these are worker-0's.
  const runningIds = (n: number) =>
    Array.from({ length: n }, (_, i) => `${q}-running-${String(i * 4).padStart(5, '0')}`);
  const tokens = (ids: string[]) => ids.map((id) => ({ id, owner: 'worker-0', modCount: 1 }));
  /** The first attempts the claim takes, as its batched update sees them. */
  const candidates = (n: number) =>
    jobsOf()
      .find(Q.claim({ queue: q, now }))
      .sort(Q.claimSort)
      .limit(n)
      .toArray();

  const cases: Case[] = [
    {
      name: 'claim (16 due of 800)',
      who: 'runner, every poll',
      index: 'pending_claim',
      explain: () =>
        jobsOf()
          .find(Q.claim({ queue: q, now }))
          .sort(Q.claimSort)
          .limit(16)
          .explain('executionStats'),
    },
    {
      name: 'claim with paused types',
      who: 'runner, every poll',
      index: 'pending_claim',
      explain: () =>
        jobsOf()
          .find(Q.claim({ queue: q, now, excludeTypes: ['paused-type'] }))
          .sort(Q.claimSort)
          .limit(16)
          .explain('executionStats'),
    },
    {
      name: "batched claim's update (16 candidates)",
      who: 'runner, every batched claim',
      index: '_id_',
      explain: async () =>
        jobsOf()
          .find(Q.claimBatch(Q.claim({ queue: q, now }), await candidates(16)))
          .explain('executionStats'),
    },
    {
      name: "batched claim's read-back after contention",
      who: 'runner, a contended claim',
      index: '_id_',
      // It looks up its 16 candidates by ID.
      counted: 16,
      explain: async () =>
        jobsOf()
          .find({
            _id: { $in: (await candidates(16)).map((c) => c._id) },
            state: 'running',
            'status.owner': 'worker-0',
            'status.claimId': 'some-claim',
          })
          .explain('executionStats'),
    },
    {
      name: 'heartbeat (16 held)',
      who: 'lock keeper, every heartbeat',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find({ ...Q.heldGroup(tokens(runningIds(16)), {}), state: 'running' })
          .explain('executionStats'),
    },
    {
      name: 'fence lookup after a missed heartbeat',
      who: 'lock keeper',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find({ _id: { $in: runningIds(16) } })
          .explain('executionStats'),
    },
    {
      name: 'guarded write (owner + modCount)',
      who: 'outcome recorder, every job',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find(Q.held(tokens(runningIds(1))))
          .explain('executionStats'),
    },
    {
      name: 'grouped guarded writes (16 completions of one owner)',
      who: 'outcome recorder, a burst of completions',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find(Q.heldGroup(tokens(runningIds(16)), { state: 'completed' }))
          .explain('executionStats'),
    },
    {
      name: 'stale-lock probe and reclaim',
      who: 'runner upkeep, every second',
      index: 'running_lock',
      explain: () => jobsOf().find(Q.stale(q, now)).limit(1).explain('executionStats'),
    },
    {
      name: 'stale-lock reclaim (all stale)',
      who: 'runner upkeep, when stale',
      index: 'running_lock',
      explain: () => jobsOf().find(Q.stale(q, now)).explain('executionStats'),
    },
    {
      // Stale locks and undated documents of every queue, due work of the idle one: what the
      // runner's upkeep asked per queue every second, in one read for the process.
      name: 'process probe (stale, undated, due of an idle queue)',
      who: 'process poller, every poll',
      index: 'pending_due',
      explain: () =>
        jobsOf()
          .find(Q.probe({ dueIn: [DRAINED], staleIn: QUEUES, now, limit: 512 }) ?? {})
          .limit(512)
          .explain('executionStats'),
    },
    {
      name: 'malformed-document probe: due, bad envelope',
      who: 'runner, after a wake that claimed nothing',
      index: 'pending_due',
      explain: () => jobsOf().find(Q.malformed(DRAINED, now)[0]).explain('executionStats'),
    },
    {
      name: 'malformed-document probe: no due time',
      who: 'runner, after a wake that claimed nothing',
      index: 'pending_claim',
      explain: () => jobsOf().find(Q.malformed(q, now)[1]).explain('executionStats'),
    },
    {
      name: 'malformed-document probe: due time of another type',
      who: 'runner, after a wake that claimed nothing',
      index: 'pending_claim',
      explain: () => jobsOf().find(Q.malformed(q, now)[2]).explain('executionStats'),
    },
    {
      name: 'blocked-job scan (a page)',
      who: 'dependencies upkeep',
      index: 'blocked_id',
      explain: () =>
        jobsOf()
          .find(Q.list({ queue: q, states: ['blocked'], limit: 100 }))
          .sort({ _id: 1 })
          .limit(100)
          .explain('executionStats'),
    },
    {
      name: 'dependents of a finished job',
      who: 'dependencies, every finished parent',
      index: 'blocked_edges',
      explain: () =>
        jobsOf()
          .find(Q.list({ queue: q, states: ['blocked'], edge: `${q}-parent-7`, limit: 100 }))
          .sort({ _id: 1 })
          .limit(100)
          .explain('executionStats'),
    },
    {
      name: 'retry monitor',
      who: 'retry handler upkeep',
      index: 'retrying_due',
      explain: () =>
        jobsOf()
          .find(Q.list({ queue: q, states: ['retrying'], dueBefore: now, limit: 100 }))
          .sort({ _id: 1 })
          .limit(100)
          .explain('executionStats'),
    },
    {
      // One query per live state (the store merges them): the pending one, the largest.
      name: 'queue has work (its pending part)',
      who: 'group upkeep (idle pruning)',
      index: 'pending_claim',
      // DocumentDB's bitmap index scan reads the queue's pending range whole before the limit
      // applies (the former `state_id` index did the same, plus a sort): bounded by one queue's
      // pending attempts, nothing of another state or queue. MongoDB reads one key.
      counted: count('pending') + count('pending-later'),
      explain: () =>
        jobsOf()
          // An existence check (`anyOrder`): no ID order to pay for.
          .find(Q.list({ queue: q, states: ['pending'], limit: 1, anyOrder: true }))
          .limit(1)
          .explain('executionStats'),
    },
    {
      name: 'job follower `changed` poll',
      who: 'job events, every poll',
      index: 'changed',
      explain: () =>
        jobsOf()
          .find(
            Q.changedSince({
              queue: q,
              after: { modTime: new Date(now.getTime() - 60_000), id: '' },
            }),
          )
          .sort(Q.changedSort)
          .limit(100)
          .explain('executionStats'),
    },
    {
      name: 'latest attempts of a prefix',
      who: 'time-range workloads',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find(Q.latestStates(q, `${q}-retrying-0000`))
          .explain('executionStats'),
    },
    {
      name: 'attempts of a job',
      who: 'retry handler, management',
      index: '_id_',
      explain: () =>
        jobsOf()
          .find(Q.attempts(`${q}-retrying-00001`))
          .explain('executionStats'),
    },
    {
      name: 'due count',
      who: 'queue stats, dashboard',
      index: 'pending_claim',
      counted: count('pending'),
      explain: () => jobsOf().find(Q.due(q, now)).explain('executionStats'),
    },
    {
      name: 'counts by state of a queue',
      who: 'queue stats, dashboard',
      index: 'queue_type',
      counted: PER_QUEUE,
      explain: () =>
        jobsOf()
          .aggregate([{ $match: { queue: q } }, { $group: { _id: '$state', n: { $sum: 1 } } }])
          .explain('executionStats'),
    },
    {
      name: 'counts by queue, type and state (one queue)',
      who: 'management counts, dashboard',
      index: 'queue_type',
      counted: PER_QUEUE,
      explain: () =>
        jobsOf()
          .aggregate([
            { $match: { queue: q } },
            { $group: { _id: { type: '$type.name', state: '$state' }, n: { $sum: 1 } } },
          ])
          .explain('executionStats'),
    },
    {
      name: 'counts of every queue',
      who: 'dashboard overview',
      index: '(all)',
      fullRead: 'drover_jobs',
      explain: () =>
        jobsOf()
          .aggregate([
            { $group: { _id: { q: '$queue', type: '$type.name', s: '$state' }, n: { $sum: 1 } } },
          ])
          .explain('executionStats'),
    },
    {
      name: 'list page, by ID',
      who: 'management, dashboard',
      index: 'finished_end',
      explain: () =>
        jobsOf()
          .find(Q.page({ queue: q, states: ['failed'], order: 'id', limit: 50 }))
          .sort({ _id: 1 })
          .limit(50)
          .explain('executionStats'),
    },
    {
      name: 'prune finished attempts',
      who: 'management prune',
      index: 'finished_end',
      explain: () =>
        jobsOf()
          .find(
            Q.prune({
              queue: q,
              states: ['completed', 'retrying'],
              // About 1,000 completed attempts and the retrying ones handed over ended before.
              endedBefore: new Date(now.getTime() - 2_000 * 60_000),
            }),
          )
          .limit(1_000)
          .explain('executionStats'),
    },
    {
      name: 'scope locks of a holder',
      who: 'management, scopes',
      index: 'holder',
      explain: () =>
        db
          .collection<ScopeLockDocument>('drover_scopes')
          .find(MongoScopeStore.listFilter({ queue: q, holder: `${q}-running-00007` }))
          .sort({ _id: 1 })
          .explain('executionStats'),
    },
    {
      name: 'scope lock release',
      who: 'scopes, every scoped job',
      index: '_id_',
      explain: () =>
        db
          .collection<ScopeLockDocument>('drover_scopes')
          .find(MongoScopeStore.releaseFilter({ ids: [`${q}/scope-1`], tokens: ['token-1'] }))
          .explain('executionStats'),
    },
    {
      name: 'due schedules',
      who: 'scheduler, every pass',
      index: 'due',
      explain: () =>
        db
          .collection<ScheduleDocument>('drover_schedules')
          .find(MongoScheduleStore.dueFilter(now))
          .sort(MongoScheduleStore.dueSort)
          .limit(100)
          .explain('executionStats'),
    },
    {
      name: 'queue records, a page',
      who: 'group upkeep (discovery), management',
      index: '_id_',
      explain: () =>
        db
          .collection<Omit<QueueRecord, 'name'> & { _id: string }>('drover_queues')
          .find(MongoQueueStore.listFilter({ after: 'other-0200' }))
          .sort({ _id: 1 })
          .limit(100)
          .explain('executionStats'),
    },
    {
      name: 'live workers (presence)',
      who: 'dashboard, management',
      index: '(none: a few records)',
      fullRead: 'drover_workers',
      explain: () =>
        db
          .collection<WorkerRecord>('drover_workers')
          .find(MongoWorkerStore.listFilter({ now, queue: q }))
          .sort({ _id: 1 })
          .explain('executionStats'),
    },
    {
      name: 'history of every queue, the last hour by minute',
      who: 'dashboard overview and history, stats --since',
      index: 'minute',
      counted: QUEUES.length * ROLLUP_TYPES.length * 60,
      explain: () =>
        rollupsOf()
          .aggregate(
            MongoRollupStore.sumsPipeline({
              from: new Date(now.getTime() - 3_600_000 + 1),
              to: now,
              bucketMs: 60_000,
            }),
          )
          .explain('executionStats'),
    },
    {
      name: 'history of one queue, the last day by 15 minutes',
      who: 'dashboard history of a queue',
      index: 'queue_minute',
      counted: ROLLUP_TYPES.length * ROLLUP_MINUTES,
      explain: () =>
        rollupsOf()
          .aggregate(
            MongoRollupStore.sumsPipeline({
              queue: q,
              from: new Date(now.getTime() - 86_400_000),
              to: now,
              bucketMs: 15 * 60_000,
            }),
          )
          .explain('executionStats'),
    },
    {
      name: 'expired rollups, a batch',
      who: 'history prune pass',
      index: 'expires',
      explain: () =>
        rollupsOf()
          .find(MongoRollupStore.pruneFilter(new Date(now.getTime() + TTL_SAFE_MS)), {
            projection: { _id: 1 },
          })
          .limit(1_000)
          .explain('executionStats'),
    },
    {
      name: 'unsettled time-range requests',
      who: 'time-range upkeep',
      index: 'unsettled',
      explain: () =>
        db
          .collection<TimeRangeRequestDocument>('drover_requests')
          .find(MongoRequestStore.listFilter({ queue: q, unsettled: true }))
          .sort({ _id: 1 })
          .limit(100)
          .explain('executionStats'),
    },
  ];

  for (const c of cases) {
    it(`${c.name} (${c.who}): ${c.index} index`, async () => {
      const summary = summarizePlan(await c.explain());
      rows.push({ name: c.name, who: c.who, intended: c.index, ...summary });
      const why = `${c.name}: ${summary.shape}`;
      if (c.fullRead) {
        const total = await db.collection(c.fullRead).countDocuments();
        assert.ok(summary.docsExamined <= total, `${why}: ${summary.docsExamined} > ${total}`);
        return;
      }
      assert.ok(!summary.collScan, `${why}: collection scan`);
      assert.ok(summary.indexes.length > 0, `${why}: no index scanned`);
      // What the plan may read: what it returns, or what it had to sort or count.
      const bound = Math.max(summary.returned, summary.sortedInMemory, c.counted ?? 0) + SLACK;
      assert.ok(summary.keysExamined <= bound, `${why}: ${summary.keysExamined} keys > ${bound}`);
      assert.ok(summary.docsExamined <= bound, `${why}: ${summary.docsExamined} docs > ${bound}`);
    });
  }
});
