/**
 * One chaos run: puts a planned mix of jobs, starts worker processes that reach MongoDB through a
 * severable proxy, and while they burn the jobs down, kills workers with SIGKILL (starting
 * replacements) and cuts the database connection, at moments spread over the run's progress.
 * Then it checks the jobs' final documents against the plan and the audit (see audit.ts).
 */
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { QueueGroup, toError, type JobDocument, type Queue } from '../lib';
import { AUDIT_COLLECTION, type AuditRecord } from '../test/support/chaos-jobs';
import { checkChaos, violationCount, type ChaosFindings } from './audit';
import { WorkerFleet } from './controller';
import { between, buildJob, planJobs, prng, type PlannedJob } from './plan';
import { ChaosProxy, targetOf } from './proxy';
import type { ChaosWorkerConfig } from './worker';

/** Options of a chaos run. */
export interface ChaosOptions {
  /** MongoDB the run uses (a single host); workers reach it through the proxy. */
  uri: string;
  jobs: number;
  /** Worker processes alive at any time. */
  workers: number;
  /** Jobs run at once per worker process. */
  slots: number;
  kills: number;
  cuts: number;
  /** Bound of the whole run; work not finished by then counts as lost. */
  seconds: number;
  lockTimeoutMs: number;
  heartbeatMs: number;
  reclaimEveryMs: number;
  /** Longest connection cut (the shortest is 300 ms). */
  cutMaxMs: number;
  serverSelectionTimeoutMs: number;
  seed: number;
  /** Keep the run's database for inspection. */
  keepDb: boolean;
  log: (line: string) => void;
}

/** Defaults of the full run (`npm run chaos`). */
export const CHAOS_DEFAULTS: Omit<ChaosOptions, 'uri' | 'log' | 'seed'> = {
  jobs: 3_000,
  workers: 4,
  slots: 8,
  kills: 24,
  cuts: 12,
  seconds: 600,
  lockTimeoutMs: 2_000,
  heartbeatMs: 400,
  reclaimEveryMs: 500,
  cutMaxMs: 4_000,
  serverSelectionTimeoutMs: 5_000,
  keepDb: false,
};

/** What a run did and found. */
export interface ChaosReport {
  seed: number;
  db: string;
  elapsedMs: number;
  /** Every job reached a final state before the time bound. */
  finished: boolean;
  kills: number;
  cuts: number;
  findings: ChaosFindings;
  crashed: { pid: number; code: number | null; signal: string | null; stderr: string }[];
  workerErrors: number;
  errorSamples: string[];
  lockLost: number;
  connectRetries: number;
  violations: number;
  /** `runs=... kills=... cuts=... lost=... duplicated-completions=... overlaps=...` */
  line: string;
}

const QUEUE = 'chaos';
const PUT_BATCH = 500;
/** Least time between two chaos events. */
const EVENT_GAP_MS = 250;
const TICK_MS = 100;

interface ChaosEvent {
  kind: 'kill' | 'cut';
  /** Fires once this share of the jobs is finished. */
  threshold: number;
  cutMs: number;
}

/** Kills and cuts in random order, spread evenly (with jitter) over 3%..85% of the work. */
function planEvents(o: ChaosOptions, rng: () => number): ChaosEvent[] {
  const kinds: ChaosEvent['kind'][] = [
    ...Array<'kill'>(o.kills).fill('kill'),
    ...Array<'cut'>(o.cuts).fill('cut'),
  ];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  return kinds.map((kind, i) => ({
    kind,
    threshold: 0.03 + (0.82 * (i + rng())) / kinds.length,
    cutMs: between(rng, 300, o.cutMaxMs),
  }));
}

async function putAll(queue: Queue, plan: PlannedJob[], rng: () => number): Promise<void> {
  for (let i = 0; i < plan.length; i += PUT_BATCH) {
    await queue.putMany(plan.slice(i, i + PUT_BATCH).map((p) => buildJob(p, rng)));
  }
}

/** Finished jobs, and whether nothing is left to run. */
async function progress(queue: Queue, total: number): Promise<{ done: number; idle: boolean }> {
  const s = await queue.stats();
  const done = s.completed + s.failed + s.aborted + s.expired + s.quarantined;
  return { done, idle: done >= total && s.pending + s.blocked + s.running === 0 };
}

async function readAll<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Runs the chaos scenario; never throws for a violation (see `report.violations`). */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const started = Date.now();
  const rng = prng(o.seed);
  const db = `drover_chaos_${process.pid}_${started.toString(36)}`;
  const proxy = await ChaosProxy.start(targetOf(o.uri));
  const client = await MongoClient.connect(o.uri);
  const group = await QueueGroup.connect({ client, db, logger: pino({ level: 'silent' }) });
  const config: ChaosWorkerConfig = {
    uri: proxy.uri(),
    auditUri: o.uri,
    db,
    queue: QUEUE,
    workers: o.slots,
    lockTimeoutMs: o.lockTimeoutMs,
    heartbeatMs: o.heartbeatMs,
    reclaimEveryMs: o.reclaimEveryMs,
    serverSelectionTimeoutMs: o.serverSelectionTimeoutMs,
  };
  const fleet = new WorkerFleet(config);
  try {
    const queue = await group.get(QUEUE);
    const plan = planJobs(o.jobs, rng);
    await putAll(queue, plan, rng);
    const mix = new Map<string, number>();
    for (const p of plan) mix.set(p.kind, (mix.get(p.kind) ?? 0) + 1);
    o.log(
      `chaos: seed=${o.seed} db=${db} jobs=${o.jobs} (${[...mix].map(([k, n]) => `${k} ${n}`).join(', ')})`,
    );

    for (let i = 0; i < o.workers; i++) fleet.spawn();
    const deadline = started + o.seconds * 1000;
    const events = planEvents(o, rng);
    let kills = 0;
    let lastEventAt = 0;
    let finished = false;
    let crashesSeen = 0;
    while (Date.now() < deadline) {
      let read: { done: number; idle: boolean };
      try {
        read = await progress(queue, plan.length);
      } catch (err) {
        // The server itself failed (DocumentDB's PostgreSQL once restarted after a crash of its
        // own mid-run): watch again next tick, as the workers ride it out; the deadline bounds it.
        o.log(`chaos: progress read failed (${toError(err).message}); trying again`);
        await new Promise((r) => setTimeout(r, TICK_MS));
        continue;
      }
      const { done, idle } = read;
      if (idle) {
        finished = true;
        break;
      }
      // A worker that died on its own is replaced too (and reported as a crash).
      const crashed = fleet.crashed().length;
      for (; crashesSeen < crashed; crashesSeen++) {
        o.log('chaos: a worker crashed; starting a replacement');
        fleet.spawn();
      }
      const next = events[0];
      const due =
        next && done / plan.length >= next.threshold && Date.now() - lastEventAt >= EVENT_GAP_MS;
      if (due && next.kind === 'kill') {
        const victims = fleet.live().filter((w) => w.ready && !w.expectedExit);
        if (victims.length > 0) {
          events.shift();
          lastEventAt = Date.now();
          const victim = victims[Math.floor(rng() * victims.length)];
          await victim.kill9();
          kills += 1;
          fleet.spawn();
          o.log(
            `chaos: kill ${kills}/${o.kills} (pid ${victim.pid}) at ${done}/${plan.length} (t=${victim.exitedAt})`,
          );
        }
      } else if (due && next.kind === 'cut' && !proxy.severed) {
        events.shift();
        lastEventAt = Date.now();
        proxy.sever(next.cutMs);
        o.log(
          `chaos: cut ${proxy.cuts}/${o.cuts} for ${next.cutMs} ms at ${done}/${plan.length} (t=${lastEventAt})`,
        );
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    proxy.restore();
    if (!finished) {
      o.log(`chaos: time bound of ${o.seconds} s reached before every job finished`);
      o.log(`chaos: ${JSON.stringify(await queue.stats())}`);
      for (const w of fleet.live()) {
        o.log(
          `chaos: worker ${w.pid} ready=${w.ready} errors=${w.errorCount} lock-lost=${w.lockLost}`,
        );
      }
    }
    const docs: JobDocument[] = (await readAll(queue.jobInfo())).map((d) => ({
      ...d,
      payload: {},
    }));
    const now = Date.now();
    await fleet.closeAll(2_000);
    const audit = await client
      .db(db)
      .collection<AuditRecord>(AUDIT_COLLECTION)
      .find({}, { projection: { _id: 0 } })
      .toArray();
    const findings = checkChaos({
      plan,
      docs,
      audit,
      exitAt: (pid) => fleet.exitAt(pid),
      now,
      lockTimeoutMs: o.lockTimeoutMs,
    });
    return report(o, { db, started, finished, kills, cuts: proxy.cuts, findings, fleet });
  } finally {
    await fleet.killAll();
    await proxy.close();
    await group.close();
    if (!o.keepDb)
      await client
        .db(db)
        .dropDatabase()
        .catch(() => undefined);
    await client.close();
  }
}

function report(
  o: ChaosOptions,
  r: {
    db: string;
    started: number;
    finished: boolean;
    kills: number;
    cuts: number;
    findings: ChaosFindings;
    fleet: WorkerFleet;
  },
): ChaosReport {
  const { findings: f, fleet } = r;
  const crashed = fleet.crashed().map((w) => ({
    pid: w.pid,
    code: w.exitCode,
    signal: w.exitSignal,
    stderr: w.stderr,
  }));
  const workers = fleet.workers;
  const overlaps = f.scopeOverlaps.length + f.concurrentRuns.length;
  const violations = violationCount(f) + crashed.length + (r.finished ? 0 : 1);
  const line =
    `runs=${f.runs} kills=${r.kills} cuts=${r.cuts} lost=${f.lost.length} ` +
    `duplicated-completions=${f.duplicatedCompletions.length} overlaps=${overlaps}`;
  return {
    seed: o.seed,
    db: r.db,
    elapsedMs: Date.now() - r.started,
    finished: r.finished,
    kills: r.kills,
    cuts: r.cuts,
    findings: f,
    crashed,
    workerErrors: workers.reduce((n, w) => n + w.errorCount, 0),
    errorSamples: [...new Set(workers.flatMap((w) => w.errors))].slice(0, 10),
    lockLost: workers.reduce((n, w) => n + w.lockLost, 0),
    connectRetries: workers.reduce((n, w) => n + w.connectRetries, 0),
    violations,
    line,
  };
}

/** The report as lines of text; the last one is `report.line`. */
export function formatReport(r: ChaosReport): string[] {
  const f = r.findings;
  const sample = <T>(xs: T[]) => (xs.length === 0 ? '' : ` e.g. ${JSON.stringify(xs.slice(0, 3))}`);
  return [
    `elapsed ${(r.elapsedMs / 1000).toFixed(1)} s, seed ${r.seed}, finished ${r.finished}`,
    `runs ${f.runs} (cut short by kills ${f.killedRuns}, re-executions after a lost lock ${f.reExecutions})`,
    `lock losses reported by workers ${r.lockLost}; background errors ${r.workerErrors}; start-up retries ${r.connectRetries}`,
    ...(r.errorSamples.length > 0 ? [`error samples: ${r.errorSamples.join(' | ')}`] : []),
    `jobs lost ${f.lost.length}${sample(f.lost)}`,
    `jobs ending in another state than planned ${f.unexpected.length}${sample(f.unexpected)}`,
    `jobs completed more than once ${f.duplicatedCompletions.length}${sample(f.duplicatedCompletions)}`,
    `completions without an audited run ${f.unauditedCompletions.length}${sample(f.unauditedCompletions)}`,
    `scope overlaps ${f.scopeOverlaps.length}${sample(f.scopeOverlaps)}`,
    `concurrent runs of one job ${f.concurrentRuns.length}${sample(f.concurrentRuns)}`,
    `dependency order violations ${f.dependencyViolations.length}${sample(f.dependencyViolations)}`,
    `jobs stuck in progress after the lock timeout ${f.stuck.length}${sample(f.stuck)}`,
    `workers crashed ${r.crashed.length}${r.crashed.map((c) => `\n  pid ${c.pid} (${c.code ?? c.signal}): ${c.stderr.trim().split('\n').slice(-5).join('\n  ')}`).join('')}`,
    `violations ${r.violations}`,
    r.line,
  ];
}
