/**
 * Sandboxed job types against both stores, in both modes (worker thread, child process): a job
 * that exits, one that runs out of memory and one that blocks its event loop past `maxTimeMs`
 * take only their sandbox down, each beside a batch-mate that completes; abort by ID, progress,
 * logs, results and the typed payload work inside; sandboxes are reused and replaced.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { threadId } from 'node:worker_threads';
import pino from 'pino';
import { ErrorCode, type JobDocument, type Queue } from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { NoopJob } from '../support/jobs';
import { NotInItsModule, sandboxJobs, type EchoJob } from '../support/sandbox-jobs';

/** A logger whose lines a test can read. */
function capturingLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function sandboxBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => backend.reset());
  after(async () => backend.close());

  for (const mode of ['thread', 'process'] as const) {
    describe(`${mode} sandboxes`, function () {
      this.timeout(60_000);
      const jobs = sandboxJobs[mode];

      /** A started queue with `workers` slots and a logger the test reads. */
      async function queue(workers = 2) {
        const { logger, lines } = capturingLogger();
        // Roomy locks: a sandbox dying of a heap limit can starve this 2-core machine a while.
        const defaults = { workers, lockTimeoutMs: 5_000, heartbeatMs: 250 };
        const q = await backend.groupWith({ logger, defaults }).get(`sb-${mode}`);
        await q.start();
        return { q, lines };
      }
      const finished = async (q: Queue, id: string): Promise<JobDocument> =>
        q.waitFor(id, { timeoutMs: 45_000 });

      it('runs the job apart: typed payload in, results, progress and logs out; reused', async () => {
        const { q, lines } = await queue(1);
        for (const n of [1, 2, 3]) {
          await q.put(
            jobs.Echo.create({ input: `job ${n}`, when: new Date(1000) }, { id: `e${n}` }),
          );
        }
        const done = await Promise.all(['e1', 'e2', 'e3'].map((id) => finished(q, id)));
        for (const d of done) assert.equal(d.state, 'completed', JSON.stringify(d.status.errors));
        const e1 = await q.get<EchoJob>('e1');
        assert.ok(e1 instanceof jobs.Echo);
        assert.equal(e1.output, 'JOB 1');
        assert.ok(e1.when instanceof Date);
        assert.equal(e1.when.getTime(), 1001);
        if (mode === 'process') assert.notEqual(e1.pid, process.pid);
        else assert.notEqual(e1.thread, threadId);
        // One sandbox served all three jobs.
        const where = new Set(
          done.map((d) => `${String(d.payload.pid)}/${String(d.payload.thread)}`),
        );
        assert.equal(where.size, 1, [...where].join(', '));
        assert.equal(done[0].status.progress, 100);
        // What run() returned and its ctx.log lines cross back and are stored with the outcome.
        assert.deepEqual(done[0].returnValue, { length: 5, at: new Date(1001) });
        assert.deepEqual(
          done[0].status.log?.map((l) => l.message),
          ['echoing job 1'],
        );
        const logged = lines.filter((l) => l.msg === 'echo in a sandbox');
        assert.equal(logged.length, 3);
        assert.equal(logged[0].input, 'job 1');
        assert.equal(logged[0].jobId, 'e1');
        assert.equal(logged[0].queue, `sb-${mode}`);
      });

      it('contains process.exit: the attempt records a typed error and is retried', async () => {
        const { q } = await queue();
        await q.putMany([
          jobs.ExitOnce.create({}, { id: 'exit', maxAttempts: 2 }),
          NoopJob.create({}, { id: 'mate' }),
        ]);
        const done = await finished(q, 'exit');
        assert.equal((await finished(q, 'mate')).state, 'completed');
        assert.equal(done.state, 'completed', JSON.stringify(done.status.errors));
        assert.equal(done.payload.output, 'survived on attempt 1');
        const first = await q.store.jobGet('exit');
        assert.equal(first?.state, 'retrying');
        assert.equal(first?.status.errors[0]?.code, ErrorCode.SandboxCrashed);
        assert.match(first?.status.errors[0]?.message ?? '', /exited with code 3/);
      });

      it('contains running out of memory: the sandbox dies, the worker and a batch-mate go on', async () => {
        const { q } = await queue();
        await q.putMany([
          jobs.OutOfMemory.create({}, { id: 'oom', maxAttempts: 1 }),
          NoopJob.create({}, { id: 'mate' }),
        ]);
        const done = await finished(q, 'oom');
        assert.equal((await finished(q, 'mate')).state, 'completed');
        assert.equal(done.state, 'failed');
        assert.equal(done.status.errors[0]?.code, ErrorCode.SandboxOutOfMemory);
        // The pool replaces the dead sandbox: the next sandboxed job runs.
        await q.put(jobs.Echo.create({ input: 'after' }, { id: 'after' }));
        assert.equal((await finished(q, 'after')).state, 'completed');
      });

      it('kills a job that blocks its event loop past maxTimeMs; a batch-mate completes', async () => {
        const { q } = await queue();
        await q.putMany([
          jobs.BlockLoop.create({}, { id: 'block', maxTimeMs: 300, maxAttempts: 1 }),
          NoopJob.create({}, { id: 'mate' }),
        ]);
        assert.equal((await finished(q, 'mate')).state, 'completed');
        const done = await finished(q, 'block');
        assert.equal(done.state, 'failed');
        assert.equal(done.status.errors[0]?.code, ErrorCode.MaxTimeExceeded);
        await q.put(jobs.Echo.create({ input: 'after' }, { id: 'after' }));
        assert.equal((await finished(q, 'after')).state, 'completed');
      });

      it('aborts by ID inside the sandbox, with progress stored before', async () => {
        const { q } = await queue();
        await q.putMany([
          jobs.WaitForAbort.create({}, { id: 'wait' }),
          NoopJob.create({}, { id: 'mate' }),
        ]);
        await eventually('progress from the sandbox is stored', async () => {
          const d = await q.getDocument('wait');
          return d?.status.progress === 30 && d.status.progressMessage === 'waiting for an abort';
        });
        assert.equal(await q.abort('wait'), 'requested');
        const done = await finished(q, 'wait');
        assert.equal(done.state, 'aborted');
        assert.equal(done.status.errors[0]?.code, ErrorCode.Aborted);
        assert.equal(done.payload.seen, 'JobAbortedError');
        assert.equal((await finished(q, 'mate')).state, 'completed');
      });
    });
  }

  it('fails a job whose sandbox module does not register its type, with a typed error', async () => {
    const q = await backend.groupWith({ defaults: { lockTimeoutMs: 5_000 } }).get('sb-unknown');
    await q.start();
    await q.put(NotInItsModule.create({ input: 'x' }, { id: 'lost', maxAttempts: 1 }));
    const done = await q.waitFor('lost', { timeoutMs: 45_000 });
    assert.equal(done.state, 'failed');
    assert.equal(done.status.errors[0]?.code, ErrorCode.UnknownJobType);
    assert.match(done.status.errors[0]?.message ?? '', /sandbox module does not register it/);
  });
}

describe('sandboxed jobs (memory)', () => sandboxBehaviour(memoryBackend));
describe('sandboxed jobs (mongodb)', () => sandboxBehaviour(mongoBackend));
