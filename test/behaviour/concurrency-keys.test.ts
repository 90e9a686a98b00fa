/**
 * Concurrency keys against both stores: at most `limit` jobs of one key run at once across two
 * groups standing for processes (and the limit is reached), slots of dead holders are taken
 * over, a job with scopes and a key takes all or nothing, invalid options are rejected with a
 * typed error, and the option survives the document round trip.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  concurrencySlotId,
  scopeLockId,
  type ScopeLockDocument,
} from '../../lib/store/scope-store';
import {
  defaultRegistry,
  InvalidArgumentError,
  MalformedJobError,
  type ConcurrencyKey,
  type JobDocument,
  type QueueGroup,
} from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { KeyedJob, keyedRuns } from '../support/concurrency-jobs';
import { FlakyJob, NoopJob } from '../support/jobs';
import { maxConcurrentByScope } from '../support/scope-jobs';

/** Lock timing for tests that assert exclusion: no lock may go stale on a loaded machine. */
const SLOW_LOCK = { lockTimeoutMs: 10_000, heartbeatMs: 500 };

/** A slot lock as a crashed process would have left it (expired unless told otherwise). */
function deadSlot(
  queue: string,
  key: string,
  slot: number,
  fields: Partial<ScopeLockDocument> & Pick<ScopeLockDocument, 'holder'>,
): ScopeLockDocument {
  const past = new Date(Date.now() - 60_000);
  return {
    _id: concurrencySlotId(queue, key, slot),
    queue,
    scope: key,
    slot,
    kind: 'dispatch',
    attemptId: fields.holder,
    owner: 'dead-owner',
    token: `dead-${key}-${slot}`,
    acquiredAt: past,
    expiresAt: past,
    ...fields,
  };
}

function keyBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  const locks = (queue: string) => backend.stores().scopes.scopeList({ queue });

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    keyedRuns.clear();
  });
  after(async () => backend.close());

  /** Claims a parked job for `owner`, standing for a holder that runs (or ran) elsewhere. */
  async function parkedHolder(id: string, owner: string, lockTimeoutMs: number) {
    const parked = await group.get('parked');
    await parked.put(NoopJob.create({}, { id }));
    const [claimed] = await backend.store().jobClaim({
      queue: 'parked',
      owner,
      now: new Date(),
      lockTimeoutMs,
      limit: 1,
    });
    assert.equal(claimed?._id, id);
    return claimed;
  }

  it('run at most `limit` jobs of a key at once across two groups, and reach it', async () => {
    const [g1, g2] = [backend.group(SLOW_LOCK), backend.group(SLOW_LOCK)];
    const [q1, q2] = [await g1.get('work', { workers: 4 }), await g2.get('work', { workers: 4 })];
    let lockLost = 0;
    for (const q of [q1, q2]) q.on('lock-lost', () => lockLost++);
    const tenant: ConcurrencyKey = { key: 'tenant', limit: 3 };
    await q1.putMany([
      // Each waits (bounded) until three run at once: the limit is then reached for sure.
      ...Array.from({ length: 30 }, (_, i) =>
        KeyedJob.create({ ms: 30, fillTo: 3 }, { id: `t-${i}`, concurrency: tenant }),
      ),
      ...Array.from({ length: 5 }, (_, i) =>
        KeyedJob.create({ ms: 30 }, { id: `o-${i}`, concurrency: { key: 'other', limit: 1 } }),
      ),
    ]);
    await Promise.all([q1.start(), q2.start()]);
    await eventually('35 completed', async () => (await q1.stats()).completed === 35, 30_000);
    assert.equal(lockLost, 0, 'no lock was lost');
    assert.equal(keyedRuns.runs.length, 35);
    const max = maxConcurrentByScope(keyedRuns.runs);
    assert.equal(max.get('tenant'), 3, 'tenant: never above 3, and 3 reached');
    assert.equal(max.get('other'), 1);
    assert.equal(keyedRuns.peak.get('tenant'), 3, 'never four in run() at once');
    assert.equal(keyedRuns.peak.get('other'), 1);
    await eventually('every slot released', async () => (await locks('work')).length === 0);
  });

  it('take over slots whose holder lock went stale, ended or never existed', async () => {
    await parkedHolder('stale-holder', 'dead-owner', 1);
    const parked = await group.get('parked');
    await parked.put(NoopJob.create({}, { id: 'done-holder' }));
    await parked.abort('done-holder');
    assert.deepEqual(
      await backend
        .stores()
        .scopes.scopeInsert([
          deadSlot('work', 'k1', 0, { holder: 'stale-holder' }),
          deadSlot('work', 'k2', 0, { holder: 'done-holder' }),
          deadSlot('work', 'k3', 0, { holder: 'never-existed' }),
          deadSlot('work', 'k3', 1, { holder: 'never-existed-either' }),
        ]),
      [],
    );
    const q = await group.get('work');
    await q.putMany([
      KeyedJob.create({ ms: 1 }, { id: 'j1', concurrency: { key: 'k1', limit: 1 } }),
      KeyedJob.create({ ms: 1 }, { id: 'j2', concurrency: { key: 'k2', limit: 1 } }),
      KeyedJob.create({ ms: 1 }, { id: 'j3', concurrency: { key: 'k3', limit: 2 } }),
    ]);
    await q.start();
    await eventually('3 completed', async () => (await q.stats()).completed === 3);
    // j3 took one dead slot of k3 over; nobody contended for the other, which stays as it was.
    await eventually('every slot taken released', async () => (await locks('work')).length === 1);
    const [left] = await locks('work');
    assert.equal(left.scope, 'k3');
    assert.ok(left.holder.startsWith('never-existed'), left.holder);
  });

  it('wait while every slot has a live holder, and use a free slot otherwise', async () => {
    await parkedHolder('live-holder', 'live-owner', 60_000);
    const scopes = backend.stores().scopes;
    const live = deadSlot('work', 'busy', 0, {
      holder: 'live-holder',
      owner: 'live-owner',
      expiresAt: new Date(Date.now() + 60_000),
    });
    await scopes.scopeInsert([live]);
    const q = await group.get('work');
    let released = 0;
    q.on('released', (info) => {
      if (info.jobId === 'waiter') released++;
    });
    await q.putMany([
      KeyedJob.create({ ms: 1 }, { id: 'waiter', concurrency: { key: 'busy', limit: 1 } }),
      // A limit of 2 has a second slot: it runs beside the live holder.
      KeyedJob.create({ ms: 1 }, { id: 'roomy', concurrency: { key: 'busy', limit: 2 } }),
    ]);
    await q.start();
    await q.waitFor('roomy');
    await eventually('waiter released twice', () => released >= 2);
    assert.deepEqual(
      keyedRuns.runs.map((r) => r.jobId),
      ['roomy'],
    );
    await q.close();
    assert.deepEqual(await locks('work'), [live], 'only the live holder keeps a slot');
  });

  it('take the scopes and the slot all or nothing', async () => {
    await parkedHolder('live-holder', 'live-owner', 60_000);
    const live = { holder: 'live-holder', owner: 'live-owner' };
    const expiresAt = new Date(Date.now() + 60_000);
    const { slot: _slot, ...asScope } = deadSlot('work', 'held-scope', 0, { ...live, expiresAt });
    const liveScope: ScopeLockDocument = { ...asScope, _id: scopeLockId('work', 'held-scope') };
    const liveSlot = deadSlot('work', 'held-key', 0, { ...live, expiresAt });
    await backend.stores().scopes.scopeInsert([liveScope, liveSlot]);
    const q = await group.get('work');
    const released = new Map<string, number>();
    q.on('released', (info) => released.set(info.jobId, (released.get(info.jobId) ?? 0) + 1));
    await q.putMany([
      // Its slot is free, its scope is not: the slot is given back.
      KeyedJob.create(
        { ms: 1 },
        { id: 'scope-busy', scopes: ['held-scope'], concurrency: { key: 'free-key', limit: 1 } },
      ),
      // Its scope is free, its slot is not: the scope is given back.
      KeyedJob.create(
        { ms: 1 },
        { id: 'slot-busy', scopes: ['free-scope'], concurrency: { key: 'held-key', limit: 1 } },
      ),
    ]);
    await q.start();
    await eventually(
      'both released twice',
      () => (released.get('scope-busy') ?? 0) >= 2 && (released.get('slot-busy') ?? 0) >= 2,
    );
    await q.close();
    assert.equal(keyedRuns.runs.length, 0, 'neither ran');
    assert.deepEqual(
      (await locks('work')).map((l) => l._id).sort(),
      [liveScope._id, liveSlot._id].sort(),
      'nothing of theirs is held',
    );
    // Both run once the live holder's locks are gone.
    await backend.stores().scopes.scopeRelease([{ ids: [liveScope._id, liveSlot._id] }]);
    const again = await backend.group().get('work');
    await again.start();
    await again.waitFor('scope-busy');
    await again.waitFor('slot-busy');
    await eventually('every lock released', async () => (await locks('work')).length === 0);
  });

  it('reject invalid concurrency options with InvalidArgumentError, at create and at put', async () => {
    const bad: unknown[] = [
      { key: 'k', limit: 0 },
      { key: 'k', limit: 1.5 },
      { key: 'k', limit: 1001 },
      { key: 'k', limit: Number.NaN },
      { key: 'k', limit: '2' },
      { key: '$x', limit: 2 },
      { key: '', limit: 2 },
      { limit: 2 },
      'k',
      null,
    ];
    for (const concurrency of bad) {
      assert.throws(
        () => NoopJob.create({}, { concurrency: concurrency as ConcurrencyKey }),
        InvalidArgumentError,
        JSON.stringify(concurrency),
      );
    }
    const q = await group.get('work');
    for (const [i, concurrency] of bad.entries()) {
      const job = NoopJob.create({}, { id: `bad-${i}` });
      job.concurrencyKey = concurrency as ConcurrencyKey;
      await assert.rejects(q.put(job), InvalidArgumentError, JSON.stringify(concurrency));
    }
    assert.equal((await q.stats()).total, 0, 'nothing inserted');
    // The bounds themselves are valid.
    await q.put(NoopJob.create({}, { id: 'one', concurrency: { key: 'k', limit: 1 } }));
    await q.put(NoopJob.create({}, { id: 'max', concurrency: { key: 'k', limit: 1000 } }));
  });

  it('keep the option through the document, the store and retries', async () => {
    const key = { key: 'tenant-7', limit: 4 };
    const job = FlakyJob.create({ succeedOn: 1 }, { id: 'kept', concurrency: key });
    assert.deepEqual(job.concurrencyKey, key);
    const doc = defaultRegistry.toDocument(job, 'work', new Date());
    assert.deepEqual(doc.concurrencyKey, key);
    assert.equal('concurrencyKey' in doc.payload, false, 'not in the payload');
    assert.deepEqual(defaultRegistry.fromDocument(doc).concurrencyKey, key);
    const plain = defaultRegistry.toDocument(NoopJob.create({}, { id: 'plain' }), 'w', new Date());
    assert.equal('concurrencyKey' in plain, false, 'absent, not undefined');
    assert.equal(defaultRegistry.fromDocument(plain).concurrencyKey, undefined);
    for (const malformed of [{ key: '$k', limit: 2 }, { key: 'k', limit: 0 }, 'k']) {
      const bad = { ...doc, concurrencyKey: malformed } as unknown as JobDocument;
      assert.throws(() => defaultRegistry.fromDocument(bad), MalformedJobError);
    }

    const q = await group.get('work');
    await q.put(job);
    await q.put(NoopJob.create({}, { id: 'plain' }));
    assert.deepEqual((await q.getDocument('kept'))?.concurrencyKey, key);
    assert.deepEqual((await q.get('kept'))?.concurrencyKey, key);
    assert.equal('concurrencyKey' in ((await q.getDocument('plain')) ?? {}), false);
    await q.start();
    await eventually(
      'kept completed',
      async () => (await q.getDocument('kept'))?.state === 'completed',
    );
    const attempts = await q.getAllAttempts('kept');
    assert.equal(attempts.length, 2);
    assert.deepEqual(
      attempts.map((a) => a.concurrencyKey),
      [key, key],
    );
    await eventually('every slot released', async () => (await locks('work')).length === 0);
  });
}

describe('concurrency keys: in-memory', () => keyBehaviour(memoryBackend));
describe('concurrency keys: MongoDB', () => keyBehaviour(mongoBackend));
