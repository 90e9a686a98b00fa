/**
 * Unit tests of the dependency managers' decision logic, their stored form, and cycle detection.
 * Edge states come from a fake context (these test decisions, not the queue); file managers use
 * real files in a temporary directory with modification times set by `utimes`.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DependencyCycleError, InvalidArgumentError } from '../../lib/errors';
import type { JobState, StoredDependency } from '../../lib/types';
import { JOB_STATES } from '../../lib/types';
import {
  AlwaysDependency,
  CheckRegistry,
  afterJobs,
  always,
  check,
  classifyEdgeState,
  createsFile,
  defaultCheckRegistry,
  dependencyFromStored,
  findCycle,
  localFile,
  registerCheck,
  type CheckContext,
  type DependencyContext,
  type DependencyManager,
} from '../../dependency';

/** A context whose edge jobs are the entries of `states`; records each edgeStates call. */
function fakeContext(
  states: Record<string, JobState> = {},
  checks = new CheckRegistry(),
): DependencyContext & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    now: new Date('2024-01-01T00:00:00Z'),
    checks,
    edgeStates: (ids) => {
      calls.push(ids);
      return Promise.resolve(new Map(ids.map((id) => [id, states[id]])));
    },
  };
}

/** Asserts that `fn` throws an InvalidArgumentError whose message matches `pattern`. */
function throwsInvalid(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(
      err instanceof InvalidArgumentError,
      `expected InvalidArgumentError, got ${String(err)}`,
    );
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

/** Round trip through the stored form, as through a database (JSON-clone of plain data). */
function roundTrip(manager: DependencyManager): DependencyManager {
  const stored = manager.toStored();
  const copy = JSON.parse(JSON.stringify(stored)) as StoredDependency;
  const rebuilt = dependencyFromStored(copy);
  assert.deepEqual(rebuilt.toStored(), stored);
  assert.equal(rebuilt.type, manager.type);
  assert.deepEqual(rebuilt.edges(), manager.edges());
  assert.equal(rebuilt.onEdgeFailure, manager.onEdgeFailure);
  return rebuilt;
}

describe('dependency', () => {
  describe('always', () => {
    it('is ready without asking for edge states', async () => {
      const ctx = fakeContext();
      assert.deepEqual(await always().state(ctx), { state: 'ready' });
      assert.equal(ctx.calls.length, 0);
    });

    it('has no edges and refuses to take one', () => {
      const dep = always();
      assert.deepEqual(dep.edges(), []);
      throwsInvalid(() => dep.addEdge('a'), /afterJobs/);
    });

    it('stores as the job default', () => {
      assert.deepEqual(always().toStored(), {
        type: 'always',
        edges: [],
        options: {},
        onEdgeFailure: 'fail',
      });
      assert.ok(roundTrip(always()) instanceof AlwaysDependency);
    });
  });

  describe('edge states', () => {
    it('classifies every job state', () => {
      const expected: Record<JobState, string> = {
        pending: 'waiting',
        blocked: 'waiting',
        running: 'waiting',
        retrying: 'waiting',
        completed: 'done',
        failed: 'failed',
        aborted: 'failed',
        expired: 'failed',
        quarantined: 'failed',
      };
      for (const s of JOB_STATES) assert.equal(classifyEdgeState(s), expected[s], s);
    });
  });

  describe('afterJobs', () => {
    it('is ready when every edge completed, asking once for all edges', async () => {
      const ctx = fakeContext({ a: 'completed', b: 'completed' });
      assert.equal((await afterJobs(['a', 'b']).state(ctx)).state, 'ready');
      assert.deepEqual(ctx.calls, [['a', 'b']]);
    });

    it('is ready with no edges and asks nothing', async () => {
      const ctx = fakeContext();
      assert.equal((await afterJobs([]).state(ctx)).state, 'ready');
      assert.equal(ctx.calls.length, 0);
    });

    for (const waiting of ['pending', 'blocked', 'running', 'retrying'] as const) {
      it(`is blocked while an edge is ${waiting}`, async () => {
        const d = await afterJobs(['a', 'b']).state(fakeContext({ a: 'completed', b: waiting }));
        assert.equal(d.state, 'blocked');
        assert.match(d.reason ?? '', new RegExp(`b \\(${waiting}\\)`));
        assert.match(d.reason ?? '', /1 of 2/);
      });
    }

    it('lists at most five waiting edges in its reason', async () => {
      const ids = Array.from({ length: 8 }, (_, i) => `j${i}`);
      const states = Object.fromEntries(ids.map((id) => [id, 'pending' as const]));
      const d = await afterJobs(ids).state(fakeContext(states));
      assert.equal(d.state, 'blocked');
      assert.match(d.reason ?? '', /j4 \(pending\) and 3 more/);
      assert.doesNotMatch(d.reason ?? '', /j5/);
    });

    for (const failed of ['failed', 'aborted', 'expired', 'quarantined'] as const) {
      it(`is unresolved when an edge ended ${failed}, naming the edge`, async () => {
        const d = await afterJobs(['a', 'b']).state(fakeContext({ a: 'completed', b: failed }));
        assert.equal(d.state, 'unresolved');
        assert.match(d.reason ?? '', new RegExp(`b ended ${failed}`));
        assert.deepEqual(d.edge, { id: 'b', state: failed });
      });

      it(`runs anyway when an edge ended ${failed} under onEdgeFailure 'run'`, async () => {
        const d = await afterJobs(['a', 'b'], { onEdgeFailure: 'run' }).state(
          fakeContext({ a: 'completed', b: failed }),
        );
        assert.equal(d.state, 'ready');
        assert.match(d.reason ?? '', new RegExp(`b \\(${failed}\\)`));
      });
    }

    it('is unresolved as soon as one edge failed, even if others still wait', async () => {
      const d = await afterJobs(['a', 'b']).state(fakeContext({ a: 'running', b: 'failed' }));
      assert.equal(d.state, 'unresolved');
      assert.deepEqual(d.edge, { id: 'b', state: 'failed' });
    });

    it('under run, still waits for edges in flight', async () => {
      const d = await afterJobs(['a', 'b'], { onEdgeFailure: 'run' }).state(
        fakeContext({ a: 'failed', b: 'pending' }),
      );
      assert.equal(d.state, 'blocked');
    });

    it('is unresolved when an edge does not exist, under either policy', async () => {
      for (const onEdgeFailure of ['fail', 'run'] as const) {
        const d = await afterJobs(['a', 'ghost'], { onEdgeFailure }).state(
          fakeContext({ a: 'completed' }),
        );
        assert.equal(d.state, 'unresolved');
        assert.match(d.reason ?? '', /ghost does not exist/);
        assert.deepEqual(d.edge, { id: 'ghost', state: 'missing' });
      }
    });

    it('reports the first failing edge in edge order', async () => {
      const d = await afterJobs(['x', 'y']).state(fakeContext({ y: 'failed' }));
      assert.deepEqual(d.edge, { id: 'x', state: 'missing' });
    });

    it('adds edges and returns copies', () => {
      const dep = afterJobs(['a']);
      dep.addEdge('b');
      const edges = dep.edges();
      edges.push('c');
      assert.deepEqual(dep.edges(), ['a', 'b']);
      const stored = dep.toStored();
      stored.edges.push('d');
      assert.deepEqual(dep.edges(), ['a', 'b']);
    });

    it('rejects bad and duplicate edges', () => {
      throwsInvalid(() => afterJobs(['a', 'a']), /duplicate/);
      throwsInvalid(() => afterJobs(['']), /non-empty/);
      throwsInvalid(() => afterJobs(['$ne']), /not a job ID/);
      throwsInvalid(() => afterJobs([42 as unknown as string]));
      throwsInvalid(() => afterJobs('a' as unknown as string[]), /array/);
      throwsInvalid(() => afterJobs(['a'], { onEdgeFailure: 'skip' as 'run' }), /onEdgeFailure/);
      const dep = afterJobs(['a']);
      throwsInvalid(() => dep.addEdge('a'), /already added/);
      throwsInvalid(() => dep.addEdge(''));
      assert.deepEqual(dep.edges(), ['a']);
    });

    it('survives a stored round trip', () => {
      roundTrip(afterJobs(['a', 'b']));
      roundTrip(afterJobs(['a'], { onEdgeFailure: 'run' }));
      assert.deepEqual(afterJobs(['a']).toStored(), {
        type: 'job-edges',
        edges: ['a'],
        options: {},
        onEdgeFailure: 'fail',
      });
    });
  });

  describe('files', () => {
    let dir: string;
    const file = (name: string) => join(dir, name);
    /** Writes a file and sets its modification time to `secondsAgo` before now. */
    async function touch(name: string, secondsAgo: number): Promise<string> {
      const p = file(name);
      await writeFile(p, name);
      const t = new Date(Date.now() - secondsAgo * 1000);
      await utimes(p, t, t);
      return p;
    }

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'drover-dependency-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    describe('createsFile', () => {
      it('is ready while the file does not exist', async () => {
        const d = await createsFile(file('out.txt')).state(fakeContext());
        assert.equal(d.state, 'ready');
      });

      it('is passed once the file exists', async () => {
        await touch('out.txt', 0);
        const d = await createsFile(file('out.txt')).state(fakeContext());
        assert.equal(d.state, 'passed');
        assert.match(d.reason ?? '', /already exists/);
      });

      it('treats a path under a regular file as missing', async () => {
        await touch('plain', 0);
        assert.equal(
          (await createsFile(join(file('plain'), 'x')).state(fakeContext())).state,
          'ready',
        );
      });

      it('waits (blocked) on a file-system error other than "missing"', async () => {
        const tooLong = file('x'.repeat(300)); // ENAMETOOLONG: a component over 255 bytes
        const d = await createsFile(tooLong).state(fakeContext());
        assert.equal(d.state, 'blocked');
        assert.match(d.reason ?? '', /cannot check/);
        const l = await localFile({ targets: [tooLong] }).state(fakeContext());
        assert.equal(l.state, 'blocked');
      });

      it('honours edges before looking at the file', async () => {
        await touch('out.txt', 0);
        const dep = createsFile(file('out.txt'), { edges: ['a'] });
        assert.equal((await dep.state(fakeContext({ a: 'running' }))).state, 'blocked');
        assert.equal((await dep.state(fakeContext({ a: 'failed' }))).state, 'unresolved');
        assert.equal((await dep.state(fakeContext({ a: 'completed' }))).state, 'passed');
      });

      it('validates its path and survives a stored round trip', () => {
        throwsInvalid(() => createsFile(''), /path/);
        throwsInvalid(() => createsFile('a\u0000b'), /path/);
        const rebuilt = roundTrip(createsFile('/tmp/x', { edges: ['a'], onEdgeFailure: 'run' }));
        assert.deepEqual(rebuilt.toStored().options, { path: '/tmp/x' });
      });
    });

    describe('localFile', () => {
      it('is ready when a target is missing', async () => {
        const src = await touch('src.c', 10);
        const d = await localFile({ targets: [file('out.o')], sources: [src] }).state(
          fakeContext(),
        );
        assert.equal(d.state, 'ready');
        assert.match(d.reason ?? '', /out\.o does not exist/);
      });

      it('is ready when a target is older than the newest source', async () => {
        const a = await touch('a.c', 100);
        const b = await touch('b.c', 10);
        const out = await touch('out.o', 50);
        const d = await localFile({ targets: [out], sources: [a, b] }).state(fakeContext());
        assert.equal(d.state, 'ready');
        assert.match(d.reason ?? '', /out\.o is older than source .*b\.c/);
      });

      it('is ready when only one of several targets is stale', async () => {
        const src = await touch('src.c', 50);
        const fresh = await touch('fresh.o', 10);
        const stale = await touch('stale.o', 100);
        const d = await localFile({ targets: [fresh, stale], sources: [src] }).state(fakeContext());
        assert.equal(d.state, 'ready');
        assert.match(d.reason ?? '', /stale\.o/);
      });

      it('is passed when every target is newer than every source', async () => {
        const a = await touch('a.c', 100);
        const b = await touch('b.c', 50);
        const x = await touch('x.o', 10);
        const y = await touch('y.o', 20);
        const d = await localFile({ targets: [x, y], sources: [a, b] }).state(fakeContext());
        assert.equal(d.state, 'passed');
      });

      it('counts equal modification times as up to date (as make does)', async () => {
        const src = await touch('src.c', 30);
        const out = await touch('out.o', 30);
        assert.equal(
          (await localFile({ targets: [out], sources: [src] }).state(fakeContext())).state,
          'passed',
        );
      });

      it('tells apart times less than a millisecond apart', async function () {
        const src = await touch('src.c', 0);
        const out = await touch('out.o', 0);
        const t = 1_700_000_000.0001; // seconds; the source is 0.5 ms newer
        await utimes(out, t, t);
        await utimes(src, t + 0.0005, t + 0.0005);
        // Some file systems keep whole seconds or milliseconds only; nothing to tell apart there.
        const [so, ss] = await Promise.all([
          stat(out, { bigint: true }),
          stat(src, { bigint: true }),
        ]);
        if (so.mtimeNs === ss.mtimeNs) this.skip();
        assert.equal(
          (await localFile({ targets: [out], sources: [src] }).state(fakeContext())).state,
          'ready',
        );
      });

      it('is passed when targets exist and there are no sources', async () => {
        const out = await touch('out.o', 10);
        assert.equal((await localFile({ targets: [out] }).state(fakeContext())).state, 'passed');
      });

      it('is unresolved when a source is missing, even if a target is missing too', async () => {
        const out = await touch('out.o', 10);
        for (const targets of [[out], [file('none.o')]]) {
          const d = await localFile({ targets, sources: [file('gone.c')] }).state(fakeContext());
          assert.equal(d.state, 'unresolved');
          assert.match(d.reason ?? '', /source .*gone\.c does not exist/);
        }
      });

      it('treats a directory as a file with its own modification time', async () => {
        await mkdir(file('srcdir'));
        const t = new Date(Date.now() - 5000);
        await utimes(file('srcdir'), t, t);
        const out = await touch('out.o', 10);
        assert.equal(
          (await localFile({ targets: [out], sources: [file('srcdir')] }).state(fakeContext()))
            .state,
          'ready',
        );
      });

      it('honours edges before looking at files', async () => {
        const out = await touch('out.o', 10);
        const dep = localFile({ targets: [out], edges: ['build'] });
        assert.equal((await dep.state(fakeContext({ build: 'pending' }))).state, 'blocked');
        assert.equal((await dep.state(fakeContext({}))).state, 'unresolved');
        assert.equal((await dep.state(fakeContext({ build: 'completed' }))).state, 'passed');
      });

      it('validates its lists and survives a stored round trip', () => {
        throwsInvalid(() => localFile({ targets: [] }), /at least one/);
        throwsInvalid(() => localFile({ targets: [''] }));
        throwsInvalid(() => localFile({ targets: ['a', 'a'] }), /duplicate/);
        throwsInvalid(() => localFile({ targets: ['a'], sources: ['b', 'b'] }), /duplicate/);
        throwsInvalid(() => localFile({ targets: ['a'], edges: ['j', 'j'] }), /duplicate/);
        const rebuilt = roundTrip(
          localFile({ targets: ['/o'], sources: ['/a', '/b'], edges: ['j'] }),
        );
        assert.deepEqual(rebuilt.toStored().options, { targets: ['/o'], sources: ['/a', '/b'] });
      });
    });
  });

  describe('check', () => {
    it('runs the registered function once edges allow, with its options', async () => {
      const registry = new CheckRegistry();
      const seen: CheckContext[] = [];
      registry.register('quota', (ctx) => {
        seen.push(ctx);
        return (ctx.options.limit as number) > 5 ? 'ready' : 'blocked';
      });
      const ctx = fakeContext({ a: 'completed' }, registry);
      assert.equal(
        (await check('quota', { options: { limit: 10 }, edges: ['a'] }).state(ctx)).state,
        'ready',
      );
      assert.equal((await check('quota', { options: { limit: 1 } }).state(ctx)).state, 'blocked');
      assert.equal(seen[0]?.name, 'quota');
      assert.deepEqual(seen[0]?.edges, ['a']);
      assert.equal(seen[0]?.now, ctx.now);
    });

    it('is not called while edges block', async () => {
      const registry = new CheckRegistry();
      let calls = 0;
      registry.register('c', () => {
        calls++;
        return 'ready';
      });
      const d = await check('c', { edges: ['a'] }).state(fakeContext({ a: 'running' }, registry));
      assert.equal(d.state, 'blocked');
      assert.equal(calls, 0);
    });

    it('passes on every state and a reason, sync or async', async () => {
      const registry = new CheckRegistry();
      registry.register('async-passed', () => Promise.resolve('passed' as const));
      registry.register('unresolved', () => 'unresolved');
      registry.register('with-reason', () => ({ state: 'blocked', reason: 'upstream is down' }));
      const ctx = fakeContext({}, registry);
      assert.deepEqual(await check('async-passed').state(ctx), { state: 'passed' });
      assert.deepEqual(await check('unresolved').state(ctx), { state: 'unresolved' });
      assert.deepEqual(await check('with-reason').state(ctx), {
        state: 'blocked',
        reason: 'upstream is down',
      });
    });

    it('is unresolved for an unknown name, a throwing function or an invalid answer', async () => {
      const registry = new CheckRegistry();
      registry.register('boom', () => {
        throw new Error('kaput');
      });
      registry.register('rejects', () => Promise.reject(new Error('async kaput')));
      registry.register('bogus', () => 'maybe' as 'ready');
      const ctx = fakeContext({}, registry);
      const unknown = await check('nope').state(ctx);
      assert.equal(unknown.state, 'unresolved');
      assert.match(unknown.reason ?? '', /no check named "nope"/);
      assert.match((await check('boom').state(ctx)).reason ?? '', /threw: kaput/);
      assert.match((await check('rejects').state(ctx)).reason ?? '', /threw: async kaput/);
      const bogus = await check('bogus').state(ctx);
      assert.equal(bogus.state, 'unresolved');
      assert.match(bogus.reason ?? '', /invalid state: "maybe"/);
    });

    it('hands each call a copy of its options', async () => {
      const registry = new CheckRegistry();
      registry.register('mutates', (ctx) => {
        ctx.options.n = 99;
        return 'ready';
      });
      const dep = check('mutates', { options: { n: 1 } });
      await dep.state(fakeContext({}, registry));
      assert.deepEqual(dep.toStored().options, { name: 'mutates', options: { n: 1 } });
    });

    it('validates its name and options and survives a stored round trip', () => {
      throwsInvalid(() => check(''), /check name/);
      throwsInvalid(() => check('$where'), /check name/);
      throwsInvalid(() => check('c', { options: { $gt: 1 } }), /reserved key/);
      throwsInvalid(() => check('c', { options: { f: () => 1 } }), /function/);
      throwsInvalid(() => check('c', { options: { m: new Map() } }), /plain object/);
      throwsInvalid(() => check('c', { options: { n: NaN } }), /non-finite/);
      throwsInvalid(
        () => check('c', { options: [] as unknown as Record<string, unknown> }),
        /plain object/,
      );
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      throwsInvalid(() => check('c', { options: cyclic }), /circular/);
      const rebuilt = roundTrip(
        check('c', { options: { a: [1, 'x', { b: null }] }, edges: ['j'] }),
      );
      assert.deepEqual(rebuilt.toStored().options, {
        name: 'c',
        options: { a: [1, 'x', { b: null }] },
      });
    });
  });

  describe('CheckRegistry', () => {
    it('registers, looks up, lists and removes checks', () => {
      const registry = new CheckRegistry();
      const fn = () => 'ready' as const;
      registry.register('a', fn);
      registry.register('a', fn); // the same function again: no-op
      registry.register('b', fn);
      assert.equal(registry.get('a'), fn);
      assert.ok(registry.has('b'));
      assert.deepEqual(registry.names(), ['a', 'b']);
      assert.ok(registry.unregister('a'));
      assert.ok(!registry.unregister('a'));
      assert.equal(registry.get('a'), undefined);
    });

    it('refuses a different function under a taken name unless told to replace', () => {
      const registry = new CheckRegistry();
      const first = () => 'ready' as const;
      const second = () => 'blocked' as const;
      registry.register('a', first);
      throwsInvalid(() => registry.register('a', second), /already registered/);
      registry.register('a', second, { replace: true });
      assert.equal(registry.get('a'), second);
      throwsInvalid(
        () => registry.register('x', 'nope' as unknown as typeof first),
        /not a function/,
      );
    });

    it('registerCheck uses the default registry unless given one', () => {
      const fn = () => 'ready' as const;
      const name = `test-default-${process.pid}`;
      registerCheck(name, fn);
      try {
        assert.equal(defaultCheckRegistry.get(name), fn);
      } finally {
        defaultCheckRegistry.unregister(name);
      }
      const own = new CheckRegistry();
      registerCheck('own', fn, own);
      assert.ok(own.has('own'));
      assert.ok(!defaultCheckRegistry.has('own'));
    });
  });

  describe('dependencyFromStored', () => {
    const base: StoredDependency = {
      type: 'job-edges',
      edges: [],
      options: {},
      onEdgeFailure: 'fail',
    };
    const bad = (over: Record<string, unknown>) =>
      ({ ...base, ...over }) as unknown as StoredDependency;

    it('rebuilds every manager type', () => {
      for (const dep of [
        always(),
        afterJobs(['a']),
        createsFile('/f'),
        localFile({ targets: ['/t'] }),
        check('c', { options: { k: 'v' } }),
      ]) {
        roundTrip(dep);
      }
    });

    it('rebuilds the job default and accepts missing optional options', () => {
      assert.ok(
        dependencyFromStored({
          type: 'always',
          edges: [],
          options: {},
          onEdgeFailure: 'fail',
        }) instanceof AlwaysDependency,
      );
      const dep = dependencyFromStored({
        type: 'local-file',
        edges: [],
        options: { targets: ['/t'] },
        onEdgeFailure: 'fail',
      });
      assert.deepEqual(dep.toStored().options, { targets: ['/t'], sources: [] });
      assert.deepEqual(
        dependencyFromStored({
          type: 'check',
          edges: [],
          options: { name: 'c' },
          onEdgeFailure: 'fail',
        }).toStored().options,
        { name: 'c', options: {} },
      );
    });

    it('rejects unknown types and malformed documents with InvalidArgumentError', () => {
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'teleport' })),
        /unknown dependency type "teleport"/,
      );
      throwsInvalid(() => dependencyFromStored(null as unknown as StoredDependency));
      throwsInvalid(() => dependencyFromStored(bad({ edges: 'a' })), /array/);
      throwsInvalid(() => dependencyFromStored(bad({ edges: ['a', 'a'] })), /duplicate/);
      throwsInvalid(() => dependencyFromStored(bad({ edges: [{ $ne: null }] })));
      throwsInvalid(() => dependencyFromStored(bad({ onEdgeFailure: 'ignore' })), /onEdgeFailure/);
      throwsInvalid(() => dependencyFromStored(bad({ options: null })), /plain object/);
      throwsInvalid(
        () => dependencyFromStored(bad({ options: { extra: 1 } })),
        /unknown option "extra"/,
      );
      throwsInvalid(() => dependencyFromStored(bad({ type: 'always', edges: ['a'] })), /no edges/);
      throwsInvalid(() => dependencyFromStored(bad({ type: 'creates-file', options: {} })), /path/);
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'creates-file', options: { path: 7 } })),
        /path/,
      );
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'local-file', options: { targets: '/t' } })),
        /array/,
      );
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'local-file', options: { targets: [] } })),
        /at least one/,
      );
      throwsInvalid(() => dependencyFromStored(bad({ type: 'check', options: {} })), /check name/);
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'check', options: { name: 'c', options: 'x' } })),
        /plain object/,
      );
    });

    it('names the stored type in its errors', () => {
      throwsInvalid(
        () => dependencyFromStored(bad({ type: 'creates-file', options: { path: '' } })),
        /^stored dependency of type "creates-file": /,
      );
    });
  });

  describe('findCycle', () => {
    /** edgesOf over a fixed graph; counts calls; unknown jobs have no edges. */
    function graph(edges: Record<string, string[]>) {
      const calls: string[] = [];
      const edgesOf = (id: string) => {
        calls.push(id);
        return Promise.resolve(edges[id] ?? []);
      };
      return { edgesOf, calls };
    }

    it('finds a self-cycle', async () => {
      assert.deepEqual(await findCycle('a', graph({ a: ['a'] }).edgesOf), ['a', 'a']);
    });

    it('finds a two-job cycle through the new job', async () => {
      assert.deepEqual(await findCycle('a', graph({ a: ['b'], b: ['a'] }).edgesOf), [
        'a',
        'b',
        'a',
      ]);
    });

    it('finds a long cycle and reports it from the start', async () => {
      const n = 5000;
      const edges: Record<string, string[]> = {};
      for (let i = 0; i < n; i++) edges[`j${i}`] = [`j${(i + 1) % n}`];
      const cycle = await findCycle('j0', graph(edges).edgesOf);
      assert.ok(cycle);
      assert.equal(cycle.length, n + 1);
      assert.equal(cycle[0], 'j0');
      assert.equal(cycle[n], 'j0');
      assert.equal(cycle[1], 'j1');
    });

    it('finds a cycle that does not pass through the start', async () => {
      const cycle = await findCycle(
        'new',
        graph({ new: ['x'], x: ['y'], y: ['z'], z: ['x'] }).edgesOf,
      );
      assert.deepEqual(cycle, ['x', 'y', 'z', 'x']);
    });

    it('finds no cycle in a diamond, and visits each job once', async () => {
      const g = graph({ top: ['left', 'right'], left: ['bottom'], right: ['bottom'], bottom: [] });
      assert.equal(await findCycle('top', g.edgesOf), null);
      assert.deepEqual([...g.calls].sort(), ['bottom', 'left', 'right', 'top']);
    });

    it('finds no cycle in a chain, a wide fan or with missing jobs', async () => {
      const chain: Record<string, string[]> = {};
      for (let i = 0; i < 3000; i++) chain[`c${i}`] = [`c${i + 1}`];
      assert.equal(await findCycle('c0', graph(chain).edgesOf), null);
      const fan = Array.from({ length: 500 }, (_, i) => `f${i}`);
      assert.equal(await findCycle('root', graph({ root: fan }).edgesOf), null);
      assert.equal(await findCycle('a', graph({ a: ['ghost'] }).edgesOf), null);
    });

    it('finds no cycle in layered diamonds (shared descendants are visited once)', async () => {
      // Each layer of two jobs points at both jobs of the next: exponential paths, linear jobs.
      const edges: Record<string, string[]> = { start: ['l0a', 'l0b'] };
      for (let i = 0; i < 40; i++) {
        edges[`l${i}a`] = [`l${i + 1}a`, `l${i + 1}b`];
        edges[`l${i}b`] = [`l${i + 1}a`, `l${i + 1}b`];
      }
      const g = graph(edges);
      assert.equal(await findCycle('start', g.edgesOf), null);
      assert.equal(g.calls.length, 1 + 2 * 41);
    });

    it('fetches a level of the graph concurrently, bounded', async () => {
      let inFlight = 0;
      let peak = 0;
      const fan = Array.from({ length: 100 }, (_, i) => `f${i}`);
      const edgesOf = async (id: string) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return id === 'root' ? fan : [];
      };
      assert.equal(await findCycle('root', edgesOf, { concurrency: 10 }), null);
      assert.equal(peak, 10);
    });

    it('refuses graphs larger than maxNodes', async () => {
      const chain: Record<string, string[]> = {};
      for (let i = 0; i < 50; i++) chain[`c${i}`] = [`c${i + 1}`];
      await assert.rejects(
        findCycle('c0', graph(chain).edgesOf, { maxNodes: 20 }),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgumentError);
          assert.match(err.message, /more than 20 jobs/);
          return true;
        },
      );
      assert.equal(await findCycle('c0', graph(chain).edgesOf, { maxNodes: 51 }), null);
    });

    it('passes errors of edgesOf through', async () => {
      const failing = () => Promise.reject(new Error('db down'));
      await assert.rejects(findCycle('a', failing), /db down/);
    });

    it('gives a path DependencyCycleError can report', async () => {
      const cycle = await findCycle('a', graph({ a: ['b'], b: ['c'], c: ['a'] }).edgesOf);
      assert.ok(cycle);
      assert.match(new DependencyCycleError('a', cycle).message, /a -> b -> c -> a/);
    });
  });
});
