/**
 * A completion writes only what changed (issue 13): the payload only when `run()` changed it,
 * errors only when there are any. `registry.changedPayload` decides, from what the job was
 * loaded with; jobs that change their payload (a field set, an array grown in place, a nested
 * object or a Date changed) still have it stored. Both backends; on MongoDB the outcome's
 * update command itself is read from the driver's command events.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { BaseJob, JobType, QueueGroup } from '../../lib';
import { Registry } from '../../lib/job/registry';
import { initStores, mongoStores } from '../../lib/store/store-set';
import type { JobDocument } from '../../lib/types';
import { FAST, memoryBackend, mongoBackend, testLogger, type Backend } from '../support/backends';
import { testUri, uniqueDbName } from '../support/server';

/** Changes nothing of its payload. */
@JobType('lean-outcome-same')
class SameJob extends BaseJob {
  name = '';
  count = 0;
  tags: string[] = [];
  meta: { at: Date; n: number } = { at: new Date(0), n: 0 };
  async run(): Promise<void> {
    // Reads only; reassigning an equal value is no change either.
    this.count = Number(this.count);
  }
}

/** Changes its payload in every way a job does. */
@JobType('lean-outcome-changing')
class ChangingJob extends BaseJob {
  name = '';
  count = 0;
  tags: string[] = [];
  meta: { at: Date; n: number } = { at: new Date(0), n: 0 };
  added?: string;
  async run(): Promise<void> {
    this.count += 1;
    this.tags.push('ran');
    this.meta.n += 1;
    this.meta.at.setTime(this.meta.at.getTime() + 1000);
    this.added = 'new';
  }
}

/** A payload of primitives only, one of them changed. */
@JobType('lean-outcome-primitive')
class PrimitiveJob extends BaseJob {
  input = '';
  output = '';
  async run(): Promise<void> {
    this.output = this.input.toUpperCase();
  }
}

describe('lean outcome: registry.changedPayload', () => {
  const registry = new Registry();
  registry.register(SameJob, 'same');
  registry.register(ChangingJob, 'changing');
  registry.register(PrimitiveJob, 'primitive');
  const now = new Date('2026-01-01T00:00:00Z');

  function loaded<T extends BaseJob>(job: T): T {
    return registry.fromDocument<T>(registry.toDocument(job, 'q', now));
  }

  it('is undefined for an unchanged payload of primitives, of objects, and for equal values', () => {
    assert.equal(registry.changedPayload(loaded(PrimitiveJob.create({ input: 'a' }))), undefined);
    const same = loaded(SameJob.create({ name: 'n', tags: ['x'], meta: { at: now, n: 1 } }));
    assert.equal(registry.changedPayload(same), undefined);
    same.tags = ['x'];
    same.meta = { at: new Date(now.getTime()), n: 1 };
    assert.equal(registry.changedPayload(same), undefined, 'equal copies are no change');
  });

  it('is the payload when a field, an array, a nested object or a Date changed', () => {
    const prim = loaded(PrimitiveJob.create({ input: 'a' }));
    prim.output = 'A';
    assert.deepEqual(registry.changedPayload(prim), { input: 'a', output: 'A' });
    const base = { name: 'n', tags: ['x'], meta: { at: now, n: 1 } };
    const changes: ((j: SameJob) => void)[] = [
      (j) => j.tags.push('y'),
      (j) => (j.meta.n = 2),
      (j) => j.meta.at.setTime(0),
      (j) => (j.name = 'm'),
      (j) => Object.assign(j, { extra: 1 }),
      (j) => delete (j as Partial<SameJob>).name,
    ];
    for (const change of changes) {
      const job = loaded(SameJob.create(structuredClone(base)));
      change(job);
      const payload = registry.changedPayload(job);
      assert.ok(payload, `${change.toString()} is a change`);
      assert.deepEqual(payload, registry.toDocument(job, 'q', now).payload);
    }
  });

  it('counts a job it did not load as changed', () => {
    const job = PrimitiveJob.create({ input: 'a' });
    assert.deepEqual(registry.changedPayload(job), { input: 'a', output: '' });
  });
});

function leanOutcome(makeBackend: () => Backend): void {
  let backend: Backend;
  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('stores the payload a job changed and keeps the one it did not', async () => {
    const q = await backend.group().get('lean-outcome');
    const fields = { name: 'n', count: 1, tags: ['a'], meta: { at: new Date(5000), n: 1 } };
    await q.put(SameJob.create(structuredClone(fields), { id: 'same' }));
    await q.put(ChangingJob.create(structuredClone(fields), { id: 'changing' }));
    await q.put(PrimitiveJob.create({ input: 'abc' }, { id: 'primitive' }));
    await q.start();
    const same = await q.waitFor('same', { timeoutMs: 20_000 });
    const changing = await q.waitFor('changing', { timeoutMs: 20_000 });
    const primitive = await q.waitFor('primitive', { timeoutMs: 20_000 });
    for (const doc of [same, changing, primitive]) assert.equal(doc.state, 'completed');
    assert.deepEqual(same.payload, fields);
    assert.deepEqual(changing.payload, {
      name: 'n',
      count: 2,
      tags: ['a', 'ran'],
      meta: { at: new Date(6000), n: 2 },
      added: 'new',
    });
    assert.deepEqual(primitive.payload, { input: 'abc', output: 'ABC' });
    assert.deepEqual(same.status.errors, []);
    assert.equal(same.status.errCount, 0);
  });
}

describe('lean outcome (memory)', () => leanOutcome(memoryBackend));
describe('lean outcome (mongodb)', () => leanOutcome(mongoBackend));

describe('lean outcome: the completion command (mongodb)', () => {
  let client: MongoClient;
  const dbName = uniqueDbName('lean-outcome');
  const commands: CommandStartedEvent[] = [];

  before(async () => {
    client = new MongoClient(testUri(), { monitorCommands: true });
    client.on('commandStarted', (e) => commands.push(e));
    await client.connect();
  });
  after(async () => {
    await client.db(dbName).dropDatabase();
    await client.close();
  });

  /** The `$set` of every update command that marked a job completed. */
  function completionSets(): Record<string, unknown>[] {
    const sets: Record<string, unknown>[] = [];
    for (const e of commands) {
      if (e.commandName !== 'update') continue;
      const updates = (e.command as { updates: { u: { $set?: Record<string, unknown> } }[] })
        .updates;
      for (const u of updates) {
        if (u.u.$set?.state === 'completed') sets.push(u.u.$set);
      }
    }
    return sets;
  }

  it('sends no payload and no errors for a job that changed neither', async () => {
    const stores = mongoStores(client.db(dbName), { prefix: 'c' });
    await initStores(stores);
    const group = new QueueGroup(stores, { defaults: FAST, logger: testLogger });
    try {
      const q = await group.get('lean-command');
      await q.put(SameJob.create({ name: 'n', tags: ['a'] }, { id: 'same' }));
      await q.put(PrimitiveJob.create({ input: 'x' }, { id: 'primitive' }));
      commands.length = 0;
      await q.start();
      const docs: JobDocument[] = [
        await q.waitFor('same', { timeoutMs: 20_000 }),
        await q.waitFor('primitive', { timeoutMs: 20_000 }),
      ];
      assert.deepEqual(
        docs.map((d) => d.state),
        ['completed', 'completed'],
      );
      const sets = completionSets();
      assert.equal(sets.length, 2, `two completions, saw ${sets.length}`);
      const withPayload = sets.filter((s) => 'payload' in s);
      assert.equal(withPayload.length, 1, 'only the job that changed its payload sends it');
      assert.deepEqual(withPayload[0].payload, { input: 'x', output: 'X' });
      for (const s of sets) assert.ok(!('status.errors' in s), 'no errors to write');
    } finally {
      await group.close();
    }
  });
});
