/** The lean workload's tables (issue 13): cost per job, and index keys written per job. */
import { LEAN_PUT_WARM_UP } from './options';
import { num, serverName, table } from './markdown';
import type { BenchResults, IndexKeysResult, LeanResult } from './results';

function leanNote(r: LeanResult): string {
  // A cut run says why in its first error; its figures are per job finished up to then.
  const parts = r.errors.slice(0, 1).map((e) => e.slice(0, 80));
  if (r.timedOut && parts.length === 0) parts.push(`cut after ${r.jobs} jobs`);
  return parts.join('; ');
}

function leanRows(results: BenchResults, rows: LeanResult[]): string[][] {
  return rows.map((r) => {
    const bytes =
      r.bytesUpPerJob === undefined || r.bytesDownPerJob === undefined
        ? undefined
        : r.bytesUpPerJob + r.bytesDownPerJob;
    return [
      r.system,
      serverName(results, r.server),
      r.phase === 'burn' ? `burn-down C=${r.conc}` : 'single put',
      num(r.jobs),
      num(r.jobsPerSec),
      num(r.cpuUsPerJob),
      num(bytes),
      num(r.bytesUpPerJob),
      num(r.bytesDownPerJob),
      num(r.roundTripsPerJob, 2),
      leanNote(r),
    ];
  });
}

function keysRows(results: BenchResults, rows: IndexKeysResult[]): string[][] {
  return rows.map((r) => [
    r.system,
    serverName(results, r.server),
    r.collection,
    num(r.putKeysPerJob, 1),
    num(r.runKeysPerJob, 1),
    num(r.lifeKeysPerJob, 1),
    Object.entries(r.byIndexPerJob)
      .filter(([, n]) => n > 0)
      .map(([name, n]) => `${name} ${num(n, 1)}`)
      .join(', '),
    num(r.writesPerJob, 1),
    num(r.documentDbEntriesPerJob, 1),
    num(r.otherKeysPerJob, 2),
    [...r.mismatches.map((m) => `replay mismatch: ${m}`), ...r.unhandled, ...r.errors]
      .join('; ')
      .slice(0, 120),
  ]);
}

/** The lean workload's section of the report (empty when it did not run). */
export function leanSection(results: BenchResults): string[] {
  const lean = results.lean ?? [];
  const keys = results.indexKeys ?? [];
  if (lean.length === 0 && keys.length === 0) return [];
  const o = results.options;
  const out = [
    '',
    `## Lean hot path: cost per job (warm worker, C=${o.leanConc}; single puts)`,
    '',
    `One worker process at concurrency ${o.leanConc} runs ${num(o.leanWarmup)} jobs unmeasured, ` +
      `then ${num(o.n)} measured; ${num(o.singlePuts)} single puts are awaited one by one after ` +
      `${num(Math.min(LEAN_PUT_WARM_UP, o.singlePuts))} unmeasured. CPU: \`process.cpuUsage()\` of the measured client process (the worker; ` +
      `for puts the bench process) per job. Bytes: TCP payload in both directions, counted by a ` +
      `proxy process every measured client connects through (MongoDB and Redis alike).`,
    '',
    table(
      [
        'system',
        'server',
        'workload',
        'jobs',
        'jobs/s',
        'client CPU µs/job',
        'bytes/job',
        'bytes up/job',
        'bytes down/job',
        'round trips/job',
        'note',
      ],
      leanRows(results, [
        ...lean.filter((r) => r.phase === 'burn'),
        ...lean.filter((r) => r.phase === 'put'),
      ]),
    ),
  ];
  if (keys.length) {
    out.push(
      '',
      '### Index keys written per job (MongoDB systems)',
      '',
      `${num(keys[0].jobs)} jobs put one by one, then run at C=${o.leanConc}; every write ` +
        `recorded by command monitoring, replayed on a scratch database to read each document ` +
        `before and after, and costed from the collections' own index definitions with ` +
        `MongoDB's rules (a changed key: 1 removed + 1 added; an empty array: 1 key). ` +
        `"DocumentDB entries": what DocumentDB writes instead, a new entry in every index for ` +
        `each new document version. BullMQ keeps no secondary index (Redis).`,
      '',
      table(
        [
          'system',
          'server',
          'collection',
          'put',
          'claim → outcome',
          'job life',
          'by index (job life)',
          'writes/job life',
          'DocumentDB entries/job life',
          'other collections/job',
          'note',
        ],
        keysRows(results, keys),
      ),
    );
  }
  return out;
}
