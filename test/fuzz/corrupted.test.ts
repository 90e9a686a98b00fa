/**
 * Documents corrupted by hand in the jobs collection (missing fields, wrong types, unknown job
 * type, future version...), against both stores: a runner pool quarantines each with its reason
 * and keeps going, every good job around them completes, and the management API lists them.
 * First a table of named corruptions, then random corruptions at random paths (property-based):
 * whatever the corruption, no job stays pending or running for good and no good job is held up.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FINISHED_STATES,
  defaultRegistry,
  type JobDocument,
  type JobInfo,
  type JobState,
  type QueueGroup,
} from '../../lib';
import { Management } from '../../lib/ops/management/management';
import { MongoJobStore } from '../../lib/store/mongo/job-store';
import { eventually, type Backend } from '../support/backends';
import { FuzzPayloadJob } from '../support/chaos-jobs';
import { BACKENDS, count, fcParams, fuzzSummary } from './fuzz';

type Raw = Record<string, unknown>;

/** A valid pending document of a FuzzPayloadJob. */
function goodDoc(id: string): JobDocument {
  return defaultRegistry.toDocument(
    FuzzPayloadJob.create({ data: { n: 1 } }, { id }),
    'q',
    new Date(Date.now() - 1_000),
  );
}

/** Inserts documents as they are, past every check (a hand edit, another tool). */
async function insertRaw(backend: Backend, docs: Raw[]): Promise<void> {
  const store = backend.store();
  if (store instanceof MongoJobStore) await store.jobs.insertMany(docs as unknown as JobDocument[]);
  else await store.jobInsert(docs as unknown as JobDocument[]);
}

/** Name, corruption, and the states the document may end in. */
const TABLE: [string, (d: Raw) => void, JobState[], string?][] = [
  ['missing type', (d) => delete d.type, ['quarantined'], 'DROVER_MALFORMED_JOB'],
  [
    'unknown type',
    (d) => ((d.type as Raw).name = 'no-such-type'),
    ['quarantined'],
    'DROVER_UNKNOWN_JOB_TYPE',
  ],
  ['future version', (d) => ((d.type as Raw).version = 99), ['quarantined'], 'DROVER_JOB_VERSION'],
  [
    'version a string',
    (d) => ((d.type as Raw).version = 'x'),
    ['quarantined'],
    'DROVER_MALFORMED_JOB',
  ],
  ['payload missing', (d) => delete d.payload, ['quarantined'], 'DROVER_MALFORMED_JOB'],
  ['payload a string', (d) => (d.payload = 'x'), ['quarantined'], 'DROVER_MALFORMED_JOB'],
  ['status missing', (d) => delete d.status, ['quarantined'], 'DROVER_MALFORMED_JOB'],
  [
    'modCount a string',
    (d) => ((d.status as Raw).modCount = 'x'),
    ['quarantined'],
    'DROVER_MALFORMED_JOB',
  ],
  // A missing field a slim document leaves out reads as its default (lib/job-document.ts).
  ['errors missing', (d) => delete (d.status as Raw).errors, ['completed']],
  ['timeInfo missing', (d) => delete d.timeInfo, ['quarantined'], 'DROVER_MALFORMED_JOB'],
  [
    'created a string',
    (d) => ((d.timeInfo as Raw).created = 'yesterday'),
    ['quarantined'],
    'DROVER_MALFORMED_JOB',
  ],
  ['dueAt a string', (d) => (d.dueAt = 'now'), ['quarantined'], 'DROVER_MALFORMED_JOB'],
  ['retryInfo missing', (d) => delete d.retryInfo, ['quarantined'], 'DROVER_MALFORMED_JOB'],
  ['scopes a string', (d) => (d.scopes = 's'), ['quarantined'], 'DROVER_MALFORMED_JOB'],
  ['dependency missing', (d) => delete d.dependency, ['completed']],
  [
    'concurrency key malformed',
    (d) => (d.concurrencyKey = { key: 'k', limit: 0 }),
    ['quarantined'],
    'DROVER_MALFORMED_JOB',
  ],
  ['_id a number', (d) => (d._id = 4242), ['quarantined'], 'DROVER_MALFORMED_JOB'],
  [
    'dependency of an unknown kind',
    (d) =>
      (d.dependency = { type: 'no-such-manager', edges: [], options: {}, onEdgeFailure: 'fail' }),
    ['quarantined', 'failed'],
  ],
  [
    'payload field of another type',
    (d) => ((d.payload as Raw).data = [{ deep: true }]),
    ['completed'],
  ],
  ['priority a string', (d) => (d.priority = 'high'), ['completed', 'quarantined']],
];

for (const [name, makeBackend] of BACKENDS) {
  describe(`fuzz: corrupted documents in the collection (${name})`, function () {
    this.timeout(60_000);
    const tag = `corrupted/${name}`;
    let backend: Backend;
    let group: QueueGroup;

    before(() => {
      backend = makeBackend();
    });
    beforeEach(async () => {
      await backend.reset();
      group = backend.group();
    });
    after(async () => {
      await backend.close();
      console.log(fuzzSummary(tag));
    });

    const infos = async (): Promise<JobInfo[]> => {
      const out: JobInfo[] = [];
      for await (const info of (await group.get('q')).jobInfo()) out.push(info);
      return out;
    };

    // Regression (the memory store's claim): a pending document whose `type` was missing (or
    // null) made every claim of its queue throw a TypeError, so the in-memory queue stopped for
    // good; the MongoDB claim filter simply matches it. Now it is claimed and quarantined.
    it('does not let a pending document without a type stop the claims', async () => {
      const bad = goodDoc('no-type') as unknown as Raw;
      delete bad.type;
      await insertRaw(backend, [goodDoc('next') as unknown as Raw, bad]);
      const q = await group.get('q');
      await q.start();
      const doc = await q.waitFor('next', { timeoutMs: 10_000 });
      assert.equal(doc.state, 'completed');
    });

    it('quarantines each with its reason, completes the good ones, and lists them', async () => {
      const docs: Raw[] = [];
      for (let i = 0; i < 10; i++) docs.push(goodDoc(`good-${i}`) as unknown as Raw);
      TABLE.forEach(([, mutate], i) => {
        const doc = goodDoc(`bad-${i}`) as unknown as Raw;
        mutate(doc);
        docs.push(doc);
      });
      // An unknown state: no pool may touch it (it is not pending), and nothing crashes.
      docs.push({ ...(goodDoc('odd-state') as unknown as Raw), state: 'weird' });
      await insertRaw(backend, docs);
      const q = await group.get('q');
      const quarantined: string[] = [];
      q.on('quarantined', (info) => quarantined.push(String(info.jobId)));
      await q.start();
      const unsettled = async () =>
        (await infos()).filter((d) => d._id !== 'odd-state' && !FINISHED_STATES.includes(d.state));
      await eventually(
        'every good job completed and every corrupted one settled',
        async () => (await unsettled()).length === 0 && (await infos()).length === docs.length,
        20_000,
      ).catch(async (err: Error) => {
        const left = (await unsettled()).map((d) => `${String(d._id)} ${d.state}`);
        throw new Error(`${err.message}: left ${left.join(', ')} of ${(await infos()).length}`);
      });
      const byId = new Map((await infos()).map((d) => [String(d._id), d]));
      for (let i = 0; i < 10; i++) assert.equal(byId.get(`good-${i}`)?.state, 'completed');
      TABLE.forEach(([what, , states, code], i) => {
        const id = what === '_id a number' ? '4242' : `bad-${i}`;
        const doc = byId.get(id);
        assert.ok(doc, `${what}: document kept`);
        assert.ok(
          states.includes(doc.state),
          `${what}: ended ${doc.state}, expected ${states.join('/')}`,
        );
        if (doc.state === 'quarantined') {
          assert.ok(doc.quarantine?.reason, `${what}: a reason is recorded`);
          if (code) assert.equal(doc.quarantine?.code, code, `${what}: ${doc.quarantine?.reason}`);
        }
        count(`${tag} named corruption`, doc.state === 'completed' ? 'ok' : 'rejected');
      });
      assert.equal(byId.get('odd-state')?.state, 'weird' as JobState, 'left alone');
      const listed = await new Management(group).list({ state: 'quarantined' }, { limit: 100 });
      const want = [...byId.values()]
        .filter((d) => d.state === 'quarantined')
        .map((d) => String(d._id));
      assert.deepEqual(listed.jobs.map((d) => String(d._id)).sort(), want.sort());
      assert.ok(
        listed.jobs.every((d) => d.quarantine?.reason),
        'the list shows the reasons',
      );
      assert.ok(quarantined.length > 0, 'quarantines are reported as events');
    });

    it('settles documents corrupted at random paths and holds no good job up', async () => {
      const paths = [
        ['type'],
        ['type', 'name'],
        ['type', 'version'],
        ['payload'],
        ['payload', 'data'],
        ['status'],
        ['status', 'modCount'],
        ['status', 'errors'],
        ['status', 'errCount'],
        ['status', 'owner'],
        ['timeInfo'],
        ['timeInfo', 'created'],
        ['timeInfo', 'maxTimeMs'],
        ['timeInfo', 'dispatchBy'],
        ['retryInfo'],
        ['retryInfo', 'currentAttempt'],
        ['retryInfo', 'maxAttempts'],
        ['retryInfo', 'baseJobId'],
        ['scopes'],
        ['enqueueScopes'],
        ['concurrencyKey'],
        ['dependency'],
        ['dependency', 'edges'],
        ['dependency', 'type'],
        ['priority'],
      ];
      const value = fc.oneof(
        fc.constant(undefined),
        fc.anything({ maxDepth: 2, withDate: true }),
        fc.constantFrom<unknown>(null, '', 'x', -1, 99, [], {}, new Date(0), new Date(NaN)),
      );
      const corruption = fc.array(fc.tuple(fc.constantFrom(...paths), value), {
        minLength: 1,
        maxLength: 2,
      });
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(corruption, { minLength: 8, maxLength: 8 }),
          async (corruptions) => {
            await backend.reset();
            group = backend.group();
            round += 1;
            const good = Array.from(
              { length: 8 },
              (_, i) => goodDoc(`g${round}-${i}`) as unknown as Raw,
            );
            const bad = corruptions.map((changes, i) => {
              const doc = goodDoc(`b${round}-${i}`) as unknown as Raw;
              for (const [path, v] of changes) {
                let at = doc;
                for (const k of path.slice(0, -1)) at = (at?.[k] ?? undefined) as Raw;
                if (at === null || typeof at !== 'object') continue;
                if (v === undefined) delete at[path[path.length - 1]];
                else at[path[path.length - 1]] = v;
              }
              return doc;
            });
            await insertRaw(backend, [...good, ...bad]);
            const q = await group.get('q');
            await q.start();
            const unsettled = async () =>
              (await infos()).filter((d) => !FINISHED_STATES.includes(d.state));
            try {
              await eventually(
                'every job settled',
                async () => (await unsettled()).length === 0,
                15_000,
              );
            } catch {
              const left = await unsettled();
              assert.fail(
                `left ${left.map((d) => `${String(d._id)} ${d.state}`).join(', ')} after corruptions ${JSON.stringify(corruptions)}`,
              );
            }
            const all = await infos();
            for (const doc of good) {
              const info = all.find((d) => d._id === doc._id);
              assert.equal(info?.state, 'completed', `good job ${String(doc._id)} ${info?.state}`);
            }
            for (const d of all.filter((x) => String(x._id).startsWith('b'))) {
              count(`${tag} random corruption`, d.state === 'completed' ? 'ok' : 'rejected');
              if (d.state === 'quarantined')
                assert.ok(d.quarantine?.reason, 'a reason is recorded');
            }
            await group.close({ drainTimeoutMs: 200 });
          },
        ),
        // No shrinking: each round runs a pool for seconds; the first counterexample is enough.
        { ...fcParams(4), endOnFailure: true },
      );
    });
  });
}
