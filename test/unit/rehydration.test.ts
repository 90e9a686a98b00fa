/**
 * Rehydration builds no throwaway envelope (issue 13): the job constructor gives a job being
 * loaded shared placeholders instead of a fresh status, time info, Dates and UUID, and
 * `fromDocument` replaces every one. These tests hold that a loaded job has exactly its stored
 * envelope, shares nothing with another, and that jobs built outside a load (or by a subclass's
 * constructor during one) are ordinary.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { BaseJob } from '../../lib';
import { Registry } from '../../lib/job/registry';

class PlainJob extends BaseJob {
  value = 0;
  async run(): Promise<void> {}
}

/** Jobs TouchyJob's constructor built. */
const built: PlainJob[] = [];

/** A subclass that touches its envelope in its constructor and builds another job. */
class TouchyJob extends BaseJob {
  constructor() {
    super();
    built.push(new PlainJob());
    this.retryInfo.maxAttempts = 3;
    this.status.errors.push({ message: 'ctor', code: 'X', at: new Date(0), retryable: true });
    this.scopes.push('from-ctor');
  }
  async run(): Promise<void> {}
}

describe('rehydration without throwaway allocations', () => {
  const registry = new Registry();
  registry.register(PlainJob, 'plain');
  registry.register(TouchyJob, 'touchy');
  const now = new Date('2026-02-03T04:05:06Z');

  it('gives a loaded job its stored envelope, shared with no other job', () => {
    const a = PlainJob.create({ value: 1 }, { id: 'a', maxAttempts: 4, delayMs: 1000 });
    const b = PlainJob.create({ value: 2 }, { id: 'b', priority: 7 });
    b.addError(new Error('stored'));
    const docA = registry.toDocument(a, 'q', now);
    const docB = registry.toDocument(b, 'q', now);
    const la = registry.fromDocument<PlainJob>(docA);
    const lb = registry.fromDocument<PlainJob>(docB);
    assert.equal(la.id, 'a');
    assert.equal(lb.id, 'b');
    assert.deepEqual(la.status, docA.status);
    assert.deepEqual(la.timeInfo, docA.timeInfo);
    assert.deepEqual(la.retryInfo, docA.retryInfo);
    assert.deepEqual(lb.status, docB.status);
    assert.equal(lb.status.errors.length, 1);
    assert.notEqual(la.status, lb.status);
    assert.notEqual(la.timeInfo, lb.timeInfo);
    assert.notEqual(la.retryInfo, lb.retryInfo);
    la.status.errCount = 99;
    assert.equal(lb.status.errCount, 1);
  });

  it('leaves jobs built outside a load, and by a constructor during one, ordinary', () => {
    const touchy = TouchyJob.create({}, { id: 't' });
    const doc = registry.toDocument(touchy, 'q', now);
    built.length = 0;
    const loaded = [1, 2, 3].map(() => registry.fromDocument<TouchyJob>(doc));
    assert.equal(built.length, 3);
    for (const [i, job] of loaded.entries()) {
      const inner = built[i];
      assert.equal(job.id, 't');
      assert.deepEqual(job.status.errors, doc.status.errors, 'the stored errors, no more');
      assert.deepEqual(job.scopes, doc.scopes);
      assert.equal(job.retryInfo.maxAttempts, doc.retryInfo.maxAttempts);
      assert.match(inner.id, /^[0-9a-f-]{36}$/, 'the inner job got a real ID');
      assert.ok(inner.timeInfo.created.getTime() > 0);
      assert.deepEqual(inner.status.errors, []);
    }
    assert.notEqual(built[0].id, built[1].id);
    const fresh = new PlainJob();
    assert.match(fresh.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(fresh.status.errors, []);
    assert.ok(fresh.timeInfo.created.getTime() > 0);
    assert.notEqual(fresh.status, loaded[0].status);
  });
});
