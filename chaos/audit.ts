/**
 * Checks of a chaos run, from three sources that do not depend on each other: the plan (what each
 * job must end as), the jobs' final documents, and the audit every run wrote itself (start and
 * end, with the claim it ran under). Pure functions, so they are tested on made-up data too.
 *
 * A *recorded completion* is a successful run whose outcome the store kept: its claim (owner and
 * modCount) is the one the completed document was finished under (the finishing write is the one
 * increment after the claim). A run that lost its lock may end successfully and still not count:
 * its outcome was dropped, and the job ran again (a re-execution, reported but allowed).
 */
import type { AuditRecord } from '../test/support/chaos-jobs';
import type { JobDocument } from '../lib';
import { isFinal } from '../lib/states';
import type { PlannedJob } from './plan';

/** One run of one attempt, from its audit records. */
export interface AuditedRun {
  key: string;
  jobId: string;
  baseJobId: string;
  owner: string;
  modCount: number;
  pid: number;
  start: number;
  /** The end record's time; for a run without one, the exit time of its process. */
  end: number;
  /** Whether an end record exists (none: the process was killed or died mid-run). */
  ended: boolean;
  ok: boolean;
  scopes: string[];
}

/** Two runs that overlapped in time although they must not. */
export interface Overlap {
  what: string;
  a: string;
  b: string;
  /** How the two runs lay in time (ms since the epoch); "k" marks a run cut short by a kill. */
  times: string;
}

/** What the checks found. */
export interface ChaosFindings {
  runs: number;
  /** Runs cut short by a killed process (no end record). */
  killedRuns: number;
  /** Successful runs whose outcome was not recorded (their job ran again). */
  reExecutions: number;
  /** Jobs whose newest attempt is missing or not finished, with its state. */
  lost: { id: string; state: string }[];
  /** Jobs finished in another state than planned, with their last error. */
  unexpected: { id: string; kind: string; expected: string; state: string; error: string }[];
  /** Jobs with more than one recorded completion. */
  duplicatedCompletions: { id: string; completions: number }[];
  /** Completed attempts with no successful run under their claim in the audit. */
  unauditedCompletions: string[];
  /** Runs of jobs sharing a dispatch scope that overlapped in time. */
  scopeOverlaps: Overlap[];
  /** Runs of one job that overlapped in time (a run that kept going after losing its lock). */
  concurrentRuns: Overlap[];
  /** Dependents that started before one of their edges completed. */
  dependencyViolations: { id: string; edge: string; reason: string }[];
  /** Attempts still `running` with a lock expired for longer than a lock timeout. */
  stuck: string[];
}

/** Pairs start and end records into runs. `exitAt` gives each process's exit time. */
export function auditedRuns(
  records: AuditRecord[],
  exitAt: (pid: number) => number | undefined,
  now: number,
): AuditedRun[] {
  const keyOf = (r: AuditRecord) => `${r.jobId}|${r.owner}|${r.modCount}`;
  const ends = new Map<string, AuditRecord[]>();
  for (const r of records) {
    if (r.kind !== 'end') continue;
    const list = ends.get(keyOf(r)) ?? [];
    list.push(r);
    ends.set(keyOf(r), list);
  }
  for (const list of ends.values()) list.sort((x, y) => x.at - y.at);
  const starts = records.filter((r) => r.kind === 'start').sort((x, y) => x.at - y.at);
  return starts.map((s) => {
    const key = keyOf(s);
    const end = ends.get(key)?.shift();
    return {
      key,
      jobId: s.jobId,
      baseJobId: s.baseJobId,
      owner: s.owner,
      modCount: s.modCount,
      pid: s.pid,
      start: s.at,
      end: end?.at ?? exitAt(s.pid) ?? now,
      ended: end !== undefined,
      ok: end?.ok === true,
      scopes: s.scopes,
    };
  });
}

function span(r: AuditedRun): string {
  return `${r.start}-${r.end}${r.ended ? '' : 'k'}`;
}

/** Pairs of runs (of different claims) that overlap in time, within each group. */
function overlapsWithin(groups: Map<string, AuditedRun[]>, what: string): Overlap[] {
  const found: Overlap[] = [];
  for (const [name, runs] of groups) {
    const sorted = [...runs].sort((x, y) => x.start - y.start);
    const open: AuditedRun[] = [];
    for (const run of sorted) {
      for (const other of open) {
        if (other.end > run.start && other.key !== run.key) {
          found.push({
            what: `${what} ${name}`,
            a: other.key,
            b: run.key,
            times: `${span(other)} / ${span(run)}`,
          });
        }
      }
      open.push(run);
      // Runs that ended before this one started cannot overlap later ones either.
      for (let i = open.length - 1; i >= 0; i--) if (open[i].end <= run.start) open.splice(i, 1);
    }
  }
  return found;
}

function groupBy<T>(items: T[], keys: (t: T) => string[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    for (const k of keys(item)) {
      const list = groups.get(k) ?? [];
      list.push(item);
      groups.set(k, list);
    }
  }
  return groups;
}

/** Runs every check. */
export function checkChaos(params: {
  plan: PlannedJob[];
  docs: JobDocument[];
  audit: AuditRecord[];
  exitAt: (pid: number) => number | undefined;
  now: number;
  lockTimeoutMs: number;
}): ChaosFindings {
  const { plan, docs, now } = params;
  const runs = auditedRuns(params.audit, params.exitAt, now);
  const attempts = groupBy(docs, (d) => [String(d.retryInfo?.baseJobId ?? d._id)]);
  const runsByClaim = groupBy(runs, (r) => [r.key]);
  const findings: ChaosFindings = {
    runs: runs.length,
    killedRuns: runs.filter((r) => !r.ended).length,
    reExecutions: 0,
    lost: [],
    unexpected: [],
    duplicatedCompletions: [],
    unauditedCompletions: [],
    scopeOverlaps: [],
    concurrentRuns: [],
    dependencyViolations: [],
    stuck: [],
  };
  /** End of the run that recorded each job's completion. */
  const completedAt = new Map<string, number>();
  const recorded = new Set<string>();
  for (const p of plan) {
    const list = (attempts.get(p.id) ?? []).sort(
      (x, y) => x.retryInfo.currentAttempt - y.retryInfo.currentAttempt,
    );
    const latest = list[list.length - 1];
    if (!latest || !isFinal(latest.state)) {
      findings.lost.push({ id: p.id, state: latest ? `${latest.state} ${latest._id}` : 'missing' });
    } else if (latest.state !== p.expected) {
      const errors = latest.status?.errors ?? [];
      const error = errors.length > 0 ? errors[errors.length - 1].message : '';
      findings.unexpected.push({
        id: p.id,
        kind: p.kind,
        expected: p.expected,
        state: latest.state,
        error,
      });
    }
    let completions = 0;
    for (const doc of list.filter((d) => d.state === 'completed')) {
      const claim = `${doc._id}|${doc.status.owner}|${doc.status.modCount - 1}`;
      const won = (runsByClaim.get(claim) ?? []).filter((r) => r.ok);
      if (won.length === 0) findings.unauditedCompletions.push(doc._id);
      for (const r of won) {
        recorded.add(r.key);
        completedAt.set(p.id, Math.max(completedAt.get(p.id) ?? 0, r.end));
      }
      completions += Math.max(1, won.length);
    }
    if (completions > 1) findings.duplicatedCompletions.push({ id: p.id, completions });
  }
  findings.reExecutions = runs.filter((r) => r.ok && !recorded.has(r.key)).length;
  findings.scopeOverlaps = overlapsWithin(
    groupBy(runs, (r) => r.scopes),
    'scope',
  );
  findings.concurrentRuns = overlapsWithin(
    groupBy(runs, (r) => [r.baseJobId]),
    'job',
  );
  const runsByJob = groupBy(runs, (r) => [r.baseJobId]);
  for (const p of plan) {
    for (const edge of p.edges) {
      const done = completedAt.get(edge);
      for (const run of runsByJob.get(p.id) ?? []) {
        if (done === undefined) {
          findings.dependencyViolations.push({
            id: p.id,
            edge,
            reason: 'ran; edge never completed',
          });
        } else if (run.start < done) {
          findings.dependencyViolations.push({
            id: p.id,
            edge,
            reason: `started ${done - run.start} ms before its edge completed`,
          });
        }
      }
    }
  }
  findings.stuck = docs
    .filter(
      (d) =>
        d.state === 'running' &&
        (d.status.lockExpiresAt === null ||
          d.status.lockExpiresAt.getTime() < now - params.lockTimeoutMs),
    )
    .map((d) => d._id);
  return findings;
}

/** Number of violations: everything that must be zero. */
export function violationCount(f: ChaosFindings): number {
  return (
    f.lost.length +
    f.unexpected.length +
    f.duplicatedCompletions.length +
    f.unauditedCompletions.length +
    f.scopeOverlaps.length +
    f.concurrentRuns.length +
    f.dependencyViolations.length +
    f.stuck.length
  );
}
