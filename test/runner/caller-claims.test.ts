/**
 * `Queue.next()`, `save()` and `complete()` take the pool's own path, against both backends:
 * a hand claim obeys the rate limit and the start verdicts (dispatch scopes), its outcome goes
 * through the recorder (dependents released, scopes given back, retries decided by the retry
 * handler, events emitted), and a stale holder cannot record anything.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { LockLostError, NonRetryableError, afterJobs } from '../../lib';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob } from '../support/jobs';

function callerClaims(makeBackend: () => Backend): void {
  let backend: Backend;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('obeys the rate limit: no more hand claims than the window grants', async () => {
    const q = await backend.group({ rateLimit: { max: 2, perMs: 3_600_000 } }).get('by-hand');
    await q.putMany([1, 2, 3].map((i) => NoopJob.create({}, { id: `h${i}` })));
    const first = await q.next();
    const second = await q.next();
    assert.ok(first && second, 'two claims granted');
    assert.equal(await q.next(), undefined, 'the third waits for the next window');
    assert.equal((await q.stats()).pending, 1);
  });

  it('obeys dispatch scopes: a job whose scope is held is given back, not handed out', async () => {
    const q = await backend.group().get('scoped');
    await q.put(NoopJob.create({}, { id: 's1', scopes: ['printer'] }));
    await q.put(NoopJob.create({}, { id: 's2', scopes: ['printer'] }));
    const held = await q.next();
    assert.equal(held?.id, 's1');
    assert.equal(await q.next(), undefined, 's2 waits for the scope');
    assert.equal((await q.getDocument('s2'))?.state, 'pending');
    await q.complete(held);
    assert.equal((await q.getDocument('s1'))?.state, 'completed');
    // The scope was given back by the recorder's afterFinish: s2 may run now.
    const next = await q.retryNow('s2').then(() => q.next());
    assert.equal(next?.id, 's2');
  });

  it('releases dependents when a hand-run job completes', async () => {
    const q = await backend.group().get('deps');
    await q.put(NoopJob.create({}, { id: 'edge' }));
    await q.put(NoopJob.create({}, { id: 'dependent', dependency: afterJobs(['edge']) }));
    assert.equal((await q.getDocument('dependent'))?.state, 'blocked');
    const edge = await q.next();
    assert.equal(edge?.id, 'edge');
    const completed: string[] = [];
    q.on('completed', (e) => completed.push(e.jobId));
    await q.complete(edge);
    assert.deepEqual(completed, ['edge'], 'the completed event was emitted');
    assert.equal((await q.getDocument('dependent'))?.state, 'pending');
  });

  it('records a failed hand-run job that asks for a retry through the retry handler', async () => {
    const q = await backend.group().get('retry-by-hand');
    await q.put(NoopJob.create({}, { id: 'r', maxAttempts: 2 }));
    const job = await q.next();
    assert.ok(job);
    job.addError(new Error('try again'));
    job.retryInfo.needsRetry = true;
    await q.complete(job);
    const attempts = await q.getAllAttempts('r');
    assert.deepEqual(
      attempts.map((a) => a.retryInfo.currentAttempt),
      [0, 1],
    );
    assert.equal((await backend.store().jobGet('r'))?.state, 'retrying', 'the first attempt');
    assert.equal((await q.getDocument('r'))?.state, 'pending', 'the latest attempt');
  });

  it('records failed when the job gained errors, and refuses to record it twice', async () => {
    const q = await backend.group().get('fail-by-hand');
    await q.put(NoopJob.create({}, { id: 'f' }));
    const job = await q.next();
    assert.ok(job);
    job.addError(new NonRetryableError('broken'));
    await q.complete(job);
    assert.equal((await q.getDocument('f'))?.state, 'failed');
    await assert.rejects(q.complete(job), LockLostError);
  });

  it('records a retry when the job gained a plain error, as the pool would', async () => {
    const q = await backend.group().get('retry-by-hand');
    await q.put(NoopJob.create({}, { id: 'r' }));
    const job = await q.next();
    assert.ok(job);
    job.addError(new Error('flaky'));
    await q.complete(job);
    assert.equal((await q.store.jobGet('r'))?.state, 'retrying');
    assert.equal((await q.getDocument('r'))?.retryInfo.currentAttempt, 1);
  });
}

describe('caller claims (next/save/complete): memory', () => callerClaims(memoryBackend));
describe('caller claims (next/save/complete): MongoDB', () => callerClaims(mongoBackend));
