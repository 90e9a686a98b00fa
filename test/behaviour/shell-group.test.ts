/**
 * The built-in `ShellJob` and `GroupJob` against both backends, with real processes: arguments
 * passed without a shell, environment and working directory, exit codes and bounded output, the
 * whole process tree killed on abort, a creates-file dependency that skips the command; groups
 * of jobs run with bounded concurrency, past errors, with one result per child, and aborted.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GroupJob, ShellJob, createsFile, type QueueGroup } from '../../lib';
import { eventually, memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { FailJob, NoopJob } from '../support/jobs';
import { ProbeChild, probe } from '../support/workload-jobs';

const NODE = process.execPath;

/** True while `pid` is a live process (a zombie left for a non-reaping init counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A command that starts a grandchild ignoring SIGTERM, writes both PIDs to a file, and waits. */
const TREE_SCRIPT = `
const { spawn } = require('node:child_process');
const g = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
require('node:fs').writeFileSync(process.argv[1], JSON.stringify({ child: process.pid, grandchild: g.pid }));
setInterval(() => {}, 1000);
`;

function shellBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let dir: string;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    dir = mkdtempSync(path.join(tmpdir(), 'drover-shell-'));
    probe.reset();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  after(async () => backend.close());

  const run = async (job: ShellJob | GroupJob, queueName = 'shell') => {
    const q = await group.get(queueName);
    await q.put(job);
    await q.start();
    const doc = await q.waitFor(job.id, { timeoutMs: 20_000 });
    return { doc, job: await q.get<ShellJob & GroupJob>(job.id) };
  };

  describe('ShellJob', () => {
    it('passes arguments as they are, with environment and working directory', async () => {
      const script =
        'process.stdout.write(JSON.stringify({ args: process.argv.slice(1), foo: process.env.FOO, cwd: process.cwd() }))';
      const args = ['-e', script, 'a b', '$(echo pwned)', '; rm -rf /', '*'];
      const { doc, job } = await run(
        ShellJob.create({ command: NODE, args, env: { FOO: 'bar' }, cwd: dir }, { id: 'echo' }),
      );
      assert.equal(doc.state, 'completed');
      assert.equal(job?.exitCode, 0);
      const out = JSON.parse(job?.stdout ?? '{}') as { args: string[]; foo: string; cwd: string };
      assert.deepEqual(out.args, ['a b', '$(echo pwned)', '; rm -rf /', '*']);
      assert.equal(out.foo, 'bar');
      assert.equal(out.cwd, dir);
      assert.equal(job?.outputTruncated, false);
    });

    it('records a non-zero exit as an error, with the exit code and stderr', async () => {
      const { doc, job } = await run(
        ShellJob.create(
          { command: NODE, args: ['-e', 'console.error("disk full"); process.exit(3)'] },
          { id: 'exit3', retryable: false },
        ),
      );
      assert.equal(doc.state, 'failed');
      assert.equal(job?.exitCode, 3);
      assert.equal(job?.stderr.trim(), 'disk full');
      const [err] = doc.status.errors;
      assert.equal(err.code, 'DROVER_COMMAND_FAILED');
      assert.match(err.message, /exited with code 3: disk full/);
    });

    it('keeps only the last maxOutputBytes of output', async () => {
      const script = 'process.stdout.write("x".repeat(200000) + "END")';
      const { doc, job } = await run(
        ShellJob.create({ command: NODE, args: ['-e', script] }, { id: 'big' }),
      );
      assert.equal(doc.state, 'completed');
      assert.equal(job?.stdout.length, 64 * 1024);
      assert.ok(job?.stdout.endsWith('xxEND'));
      assert.equal(job?.outputTruncated, true);
    });

    it('kills the whole process tree when aborted', async () => {
      const pidFile = path.join(dir, 'pids.json');
      const q = await group.get('shell');
      await q.put(
        ShellJob.create(
          { command: NODE, args: ['-e', TREE_SCRIPT, pidFile], killGraceMs: 300 },
          { id: 'tree' },
        ),
      );
      await q.start();
      await eventually(
        'pids written',
        () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').length > 0,
      );
      const pids = JSON.parse(readFileSync(pidFile, 'utf8')) as {
        child: number;
        grandchild: number;
      };
      assert.ok(alive(pids.child) && alive(pids.grandchild));
      assert.equal(await group.abort('tree'), 'requested');
      const doc = await q.waitFor('tree', { timeoutMs: 15_000 });
      assert.equal(doc.state, 'aborted');
      await eventually(
        'child and grandchild gone',
        () => !alive(pids.child) && !alive(pids.grandchild),
      );
    });

    it('is skipped when the file it creates exists (creates-file dependency)', async () => {
      const target = path.join(dir, 'out.txt');
      const make = (id: string) =>
        ShellJob.create(
          {
            command: NODE,
            args: ['-e', `require("fs").appendFileSync(${JSON.stringify(target)}, "made\\n")`],
          },
          { id, dependency: createsFile(target) },
        );
      const first = await run(make('make-1'));
      assert.equal(first.doc.state, 'completed');
      assert.equal(first.job?.exitCode, 0);
      const second = await run(make('make-2'));
      assert.equal(second.doc.state, 'completed');
      assert.equal(second.job?.exitCode, null, 'the command did not run');
      assert.equal(readFileSync(target, 'utf8'), 'made\n');
    });

    it('fails when the command cannot start, and retries listed exit codes', async () => {
      const missing = await run(
        ShellJob.create(
          { command: path.join(dir, 'no-such-tool') },
          { id: 'missing', retryable: false },
        ),
      );
      assert.equal(missing.doc.state, 'failed');
      assert.match(missing.doc.status.errors[0].message, /ENOENT/);
      const flaky = await run(
        ShellJob.create(
          { command: NODE, args: ['-e', 'process.exit(75)'], retryExitCodes: [75] },
          { id: 'tempfail', maxAttempts: 2 },
        ),
      );
      assert.equal(flaky.doc.retryInfo.currentAttempt, 1, 'a second attempt ran');
      assert.equal(flaky.doc.state, 'failed');
    });
  });

  describe('GroupJob', () => {
    it('runs children with bounded concurrency, past errors, with a result for each', async () => {
      const g = GroupJob.create({ concurrency: 2 }, { id: 'batch', retryable: false });
      for (let i = 0; i < 5; i++) g.add(ProbeChild.create({ ms: 40 }, { id: `c${i}` }));
      g.add(ProbeChild.create({ ms: 5, fail: 'child broke' }, { id: 'bad' }));
      g.add(
        ShellJob.create(
          { command: NODE, args: ['-e', 'process.stdout.write("hi")'] },
          { id: 'sh' },
        ),
      );
      const { doc, job } = await run(g, 'groups');
      assert.equal(probe.max, 2, 'two children at a time');
      assert.equal(doc.state, 'failed');
      assert.equal(doc.status.errors.length, 1);
      assert.match(
        doc.status.errors[0].message,
        /^child bad \(test-probe-child\) failed: child broke$/,
      );
      const results = job?.results ?? [];
      assert.deepEqual(
        results.map((r) => [r.id, r.state]),
        [
          ['c0', 'completed'],
          ['c1', 'completed'],
          ['c2', 'completed'],
          ['c3', 'completed'],
          ['c4', 'completed'],
          ['bad', 'failed'],
          ['sh', 'completed'],
        ],
      );
      assert.ok(results[0].durationMs >= 30 && results[0].end instanceof Date);
      assert.equal(results[5].errors[0].message, 'child broke');
      const children = job?.childJobs() ?? [];
      assert.equal((children[0] as ProbeChild).output, 'ran 40');
      assert.equal((children[6] as ShellJob).stdout, 'hi');
    });

    it('asks for a retry when every failure was retryable, and reruns only those children', async () => {
      const g = GroupJob.create({}, { id: 'retry-batch', maxAttempts: 2 });
      g.add(NoopJob.create({}, { id: 'fine' }));
      g.add(ProbeChild.create({ ms: 1, fail: 'try later', retryable: true }, { id: 'later' }));
      const q = await group.get('groups');
      await q.put(g);
      await q.start();
      await eventually('second attempt finished', async () => {
        const doc = await q.getDocument('retry-batch');
        return doc?.retryInfo.currentAttempt === 1 && doc.state === 'failed';
      });
      assert.equal(probe.runs.later, 2);
      const last = await q.get<GroupJob>('retry-batch');
      assert.deepEqual(
        last?.results.map((r) => r.state),
        ['completed', 'failed'],
      );
    });

    it('aborts its children when aborted', async () => {
      const g = GroupJob.create({ concurrency: 2 }, { id: 'long-batch' });
      for (let i = 0; i < 4; i++) g.add(ProbeChild.create({ ms: 60_000 }, { id: `l${i}` }));
      g.add(FailJob.create({}, { id: 'never' }));
      const q = await group.get('groups');
      await q.put(g);
      await q.start();
      await eventually('two children running', () => probe.running === 2);
      assert.equal(await group.abort('long-batch'), 'requested');
      const doc = await q.waitFor('long-batch', { timeoutMs: 15_000 });
      assert.equal(doc.state, 'aborted');
      assert.equal(probe.aborted, 2);
      assert.equal(probe.running, 0);
      const job = await q.get<GroupJob>('long-batch');
      assert.deepEqual(
        job?.results.map((r) => r.state),
        ['aborted', 'aborted', 'aborted', 'aborted', 'aborted'],
      );
    });
  });
}

describe('shell and group jobs (memory)', () => shellBehaviour(memoryBackend));
describe('shell and group jobs (mongodb)', () => shellBehaviour(mongoBackend));
