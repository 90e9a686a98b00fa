/**
 * Hooks before and after each job (the continuous-processing seed) against both backends: a
 * credential handed to each job, workers held in a visible waiting state while a hook waits
 * (claimed jobs released untouched, claims stopped), resumed once it passes; `afterRun` hooks.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import {
  HookWaitError,
  Queue,
  QueueGroup,
  RetryableError,
  type AfterRunContext,
  type BeforeRunContext,
  type QueueGroupOptions,
} from '../../lib';
import { RunHooks } from '../../lib/hooks/run-hooks';
import { FAST, eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, NoopJob } from '../support/jobs';
import { CredentialJob } from '../support/workload-jobs';

/** A credential cache as the seed describes it: valid until it expires, refreshed by a person. */
class Credentials {
  token = '';
  refreshes = 0;
  /** Hook calls that came with a claimed job. */
  jobCalls = 0;
  hook = (ctx: BeforeRunContext): void => {
    if (ctx.job) this.jobCalls++;
    if (!this.token) throw new HookWaitError('auth-required', 'token expired: sign in again');
    if (ctx.job instanceof CredentialJob) ctx.job.token = this.token;
  };
}

function hookBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  const group = (options: QueueGroupOptions = {}): QueueGroup => backend.groupWith(options);

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  it('hands each job a fresh credential', async () => {
    const creds = new Credentials();
    creds.token = 'tok-1';
    const g = group({ hooks: { beforeRun: [creds.hook] } });
    const q = await g.get('work');
    await q.putMany([1, 2, 3].map((i) => CredentialJob.create({}, { id: `c${i}` })));
    await q.start();
    await eventually('3 completed', async () => (await q.stats()).completed === 3);
    for (const i of [1, 2, 3])
      assert.equal((await q.get<CredentialJob>(`c${i}`))?.usedToken, 'tok-1');
    assert.equal(g.hooks.state().state, 'ready');
  });

  it('holds the workers in a visible waiting state until the hook passes', async () => {
    const creds = new Credentials();
    const g = group({
      defaults: { ...FAST, workers: 2 },
      hooks: { beforeRun: [creds.hook], retryMinMs: 10, retryMaxMs: 40 },
    });
    const events: string[] = [];
    g.hooks.on('waiting', (e) => events.push(`waiting:${e.state}:${e.queue}`));
    g.hooks.on('resumed', (e) => events.push(`resumed:${e.state}`));
    const q = await g.get('work');
    await q.putMany([1, 2, 3, 4, 5].map((i) => CredentialJob.create({}, { id: `j${i}` })));
    await q.start();
    await eventually('waiting', () => events.length === 1);
    assert.deepEqual(events, ['waiting:auth-required:work']);
    const state = g.hooks.state();
    assert.equal(state.state, 'auth-required');
    assert.equal(state.message, 'token expired: sign in again');
    assert.ok(state.since instanceof Date);
    assert.deepEqual(state.waits, { 'auth-required': 1 });

    // The background retries go on; no job is claimed meanwhile, and none was harmed.
    await eventually('retried in the background', () => g.hooks.state().retries >= 3);
    const callsWhileWaiting = creds.jobCalls;
    assert.ok(callsWhileWaiting <= 2, `hook ran for ${callsWhileWaiting} claimed jobs`);
    await eventually('claimed jobs released', async () => (await q.stats()).pending === 5);
    for await (const info of q.jobInfo()) {
      assert.equal(info.state, 'pending');
      assert.equal(info.status.owner, '');
      assert.equal(info.status.errCount, 0, 'released untouched');
      assert.equal(info.retryInfo.currentAttempt, 0);
    }
    await eventually('more retries', () => g.hooks.state().retries >= 5);
    assert.equal(creds.jobCalls, callsWhileWaiting, 'claims stopped while waiting');
    assert.ok(g.hooks.state().released >= 1);

    // Someone signs in: the next retry passes and the jobs run.
    creds.token = 'tok-2';
    await eventually('5 completed', async () => (await q.stats()).completed === 5, 15_000);
    assert.deepEqual(events, ['waiting:auth-required:work', 'resumed:auth-required']);
    const after = g.hooks.state();
    assert.equal(after.state, 'ready');
    assert.equal(after.since, null);
    assert.ok(after.waitedMs > 0);
    for (const i of [1, 2, 3, 4, 5]) {
      assert.equal((await q.get<CredentialJob>(`j${i}`))?.usedToken, 'tok-2');
    }
  });

  it('retryNow passes the wait at once (runOnce of the background retry)', async () => {
    const creds = new Credentials();
    const g = group({ hooks: { beforeRun: [creds.hook], retryMinMs: 60_000 } });
    const q = await g.get('work');
    await q.put(CredentialJob.create({}, { id: 'x' }));
    await q.start();
    await eventually('waiting', () => g.hooks.state().state === 'auth-required');
    assert.equal(await g.hooks.retryNow(), false);
    creds.token = 'tok';
    assert.equal(await g.hooks.retryNow(), true);
    await eventually('completed', async () => (await q.stats()).completed === 1);
  });

  it('fails a job whose hook throws, retries it on a RetryableError', async () => {
    const g = group({
      hooks: {
        beforeRun: [
          ({ job }) => {
            if (job?.id === 'bad') throw new Error('hook refused');
            if (job?.id === 'again' && job.retryInfo.currentAttempt === 0) {
              throw new RetryableError('not yet', { retryAfterMs: 5 });
            }
          },
        ],
      },
    });
    const q = await g.get('work');
    await q.putMany([NoopJob.create({}, { id: 'bad' }), NoopJob.create({}, { id: 'again' })]);
    await q.start();
    await eventually('both finished', async () => {
      const s = await q.stats();
      return s.failed === 1 && s.completed === 1;
    });
    assert.equal((await q.getDocument('bad'))?.status.errors[0]?.message, 'hook refused');
    assert.equal((await q.getDocument('again'))?.retryInfo.currentAttempt, 1);
  });

  it('runs afterRun hooks with each outcome, and survives their errors', async () => {
    const seen: string[] = [];
    const g = group({
      hooks: {
        afterRun: [
          (ctx: AfterRunContext) => {
            seen.push(`${ctx.job.id}:${ctx.state}`);
          },
          () => {
            throw new Error('cleanup failed');
          },
        ],
      },
    });
    const errors: string[] = [];
    g.hooks.on('error', (e) => errors.push(e.message));
    const q = await g.get('work');
    await q.putMany([
      NoopJob.create({}, { id: 'ok' }),
      FailJob.create({}, { id: 'ko', retryable: false }),
    ]);
    await q.start();
    await eventually('two outcomes', () => seen.length === 2);
    assert.deepEqual(seen.sort(), ['ko:failed', 'ok:completed']);
    assert.deepEqual(errors, ['cleanup failed', 'cleanup failed']);
    const s = await q.stats();
    assert.equal(s.completed, 1, 'the outcome stands');
  });

  it('serves a single queue outside a group', async () => {
    const creds = new Credentials();
    const hooks = new RunHooks({ beforeRun: [creds.hook], retryMinMs: 10, retryMaxMs: 20 });
    const q = new Queue(backend.store(), 'solo', FAST, { extensions: [hooks] });
    try {
      await q.put(CredentialJob.create({}, { id: 'solo-1' }));
      await q.start();
      await eventually('waiting', () => hooks.state().state === 'auth-required');
      creds.token = 'solo-token';
      await eventually('completed', async () => (await q.stats()).completed === 1);
      assert.equal((await q.get<CredentialJob>('solo-1'))?.usedToken, 'solo-token');
    } finally {
      hooks.close();
      await q.close();
    }
  });
}

describe('hooks (memory)', () => hookBehaviour(memoryBackend));
describe('hooks (mongodb)', () => hookBehaviour(mongoBackend));
