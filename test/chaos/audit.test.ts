/**
 * The chaos checks (chaos/audit.ts) on made-up histories: each violation they look for is found,
 * and a clean history passes. This keeps the chaos run's zeros meaningful.
 */
import assert from 'node:assert/strict';
import { checkChaos, violationCount } from '../../chaos/audit';
import type { PlannedJob } from '../../chaos/plan';
import type { JobDocument, JobState } from '../../lib';
import type { AuditRecord } from '../support/chaos-jobs';

function doc(
  id: string,
  state: JobState,
  owner: string,
  modCount: number,
  attempt = 0,
): JobDocument {
  const base = id.split('#')[0];
  return {
    _id: id,
    queue: 'q',
    type: { name: 'chaos-quick', version: 1 },
    state,
    priority: 0,
    dueAt: new Date(0),
    payload: {},
    status: {
      owner,
      completed: state === 'completed',
      inProgress: state === 'running',
      modTime: new Date(0),
      modCount,
      errCount: 0,
      errors: [],
      lockExpiresAt: state === 'running' ? new Date(0) : null,
      abortRequested: false,
      progress: 0,
    },
    timeInfo: {
      created: new Date(0),
      start: null,
      end: null,
      waitUntil: null,
      dispatchBy: null,
      maxTimeMs: 0,
    },
    retryInfo: {
      retryable: true,
      needsRetry: false,
      baseJobId: base,
      currentAttempt: attempt,
      maxAttempts: 3,
      waitUntilMs: 0,
      dispatchByMs: 0,
      start: null,
      end: null,
    },
    scopes: [],
    enqueueScopes: [],
    dependency: { type: 'always', edges: [], options: {}, onEdgeFailure: 'fail' },
  };
}

/** A start and (unless `end` is null) an end record of one run. */
function run(
  jobId: string,
  owner: string,
  modCount: number,
  start: number,
  end: number | null,
  extra: { ok?: boolean; scopes?: string[]; pid?: number } = {},
): AuditRecord[] {
  const r = {
    jobId,
    baseJobId: jobId.split('#')[0],
    attempt: Number(jobId.split('#')[1] ?? 0),
    type: 'chaos-quick',
    owner,
    modCount,
    pid: extra.pid ?? 1,
    scopes: extra.scopes ?? [],
    edges: [],
    claimedAt: start,
    lockExpiresAt: start + 1_000,
  };
  const out: AuditRecord[] = [{ ...r, kind: 'start', at: start }];
  if (end !== null) out.push({ ...r, kind: 'end', at: end, ok: extra.ok ?? true });
  return out;
}

const plan = (id: string, extra: Partial<PlannedJob> = {}): PlannedJob => ({
  id,
  kind: 'quick',
  expected: 'completed',
  scopes: [],
  edges: [],
  ...extra,
});

function check(
  p: PlannedJob[],
  docs: JobDocument[],
  audit: AuditRecord[],
  exits = new Map<number, number>(),
) {
  return checkChaos({
    plan: p,
    docs,
    audit,
    exitAt: (pid) => exits.get(pid),
    now: 1_000_000,
    lockTimeoutMs: 1_000,
  });
}

describe('chaos: the audit checks', function () {
  it('passes a clean history with a retry, a killed run and a re-execution', function () {
    const f = check(
      [plan('a'), plan('b'), plan('c', { edges: ['a'] })],
      [
        doc('a', 'retrying', 'o1', 2),
        doc('a#1', 'completed', 'o2', 2, 1),
        doc('b', 'completed', 'o3', 4),
        doc('c', 'completed', 'o1', 2),
      ],
      [
        ...run('a', 'o1', 1, 10, 20, { ok: false }),
        ...run('a#1', 'o2', 1, 30, 40),
        ...run('b', 'o1', 1, 10, null, { pid: 7 }),
        ...run('b', 'o2', 1, 1_600, 1_610),
        ...run('b', 'o3', 3, 2_000, 2_100),
        ...run('c', 'o1', 1, 50, 60),
      ],
      new Map([[7, 1_500]]),
    );
    assert.equal(violationCount(f), 0, JSON.stringify(f));
    assert.equal(f.runs, 6);
    assert.equal(f.killedRuns, 1);
    // b's run by o2 succeeded after the kill, but lost its lock: its outcome was dropped.
    assert.equal(f.reExecutions, 1);
  });

  it('finds lost jobs, wrong outcomes and duplicated completions', function () {
    const f = check(
      [plan('lost'), plan('missing'), plan('wrong'), plan('twice')],
      [
        doc('lost', 'pending', '', 3),
        doc('wrong', 'failed', 'o1', 2),
        doc('twice', 'completed', 'o1', 2),
        doc('twice#1', 'completed', 'o2', 2, 1),
      ],
      [
        ...run('wrong', 'o1', 1, 10, 20, { ok: false }),
        ...run('twice', 'o1', 1, 10, 20),
        ...run('twice#1', 'o2', 1, 30, 40),
      ],
    );
    assert.deepEqual(
      f.lost.map((l) => l.id),
      ['lost', 'missing'],
    );
    assert.deepEqual(
      f.unexpected.map((u) => u.id),
      ['wrong'],
    );
    assert.deepEqual(f.duplicatedCompletions, [{ id: 'twice', completions: 2 }]);
  });

  it('finds a completion with no successful run under its claim', function () {
    const f = check([plan('a')], [doc('a', 'completed', 'o2', 4)], [...run('a', 'o1', 1, 10, 20)]);
    assert.deepEqual(f.unauditedCompletions, ['a']);
    assert.equal(f.reExecutions, 1, 'the successful run whose outcome was dropped');
  });

  it('finds scope overlaps, concurrent runs of one job (a killed run lasts until its exit)', function () {
    const f = check(
      [plan('x', { kind: 'scoped' }), plan('y', { kind: 'scoped' })],
      [doc('x', 'completed', 'o2', 4), doc('y', 'completed', 'o3', 2)],
      [
        ...run('x', 'o1', 1, 10, null, { scopes: ['s'], pid: 9 }),
        ...run('x', 'o2', 3, 100, 200, { scopes: ['s'] }),
        ...run('y', 'o3', 1, 300, 400, { scopes: ['s'] }),
      ],
      new Map([[9, 150]]),
    );
    assert.equal(f.scopeOverlaps.length, 1, JSON.stringify(f.scopeOverlaps));
    assert.equal(f.concurrentRuns.length, 1, JSON.stringify(f.concurrentRuns));
    assert.match(f.concurrentRuns[0].times, /k/);
  });

  it('finds dependents that started before their edge completed, or without it', function () {
    const f = check(
      [plan('e'), plan('d', { edges: ['e'] }), plan('f', { edges: ['never'] }), plan('never')],
      [
        doc('e', 'completed', 'o1', 2),
        doc('d', 'completed', 'o1', 2),
        doc('f', 'completed', 'o1', 2),
        doc('never', 'failed', 'o1', 2),
      ],
      [
        ...run('e', 'o1', 1, 100, 200),
        ...run('d', 'o1', 1, 150, 160),
        ...run('f', 'o1', 1, 150, 160),
      ],
    );
    assert.deepEqual(
      f.dependencyViolations.map((v) => v.id),
      ['d', 'f'],
    );
  });

  it('finds attempts stuck in progress past their lock', function () {
    const f = check([plan('s')], [doc('s', 'running', 'o1', 1)], []);
    assert.deepEqual(f.stuck, ['s']);
    assert.equal(f.lost.length, 1);
  });
});
